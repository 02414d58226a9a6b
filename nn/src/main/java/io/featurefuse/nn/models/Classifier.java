package io.featurefuse.nn.models;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.layers.Linear;
import java.util.random.RandomGenerator;

/** A backbone, global average pooling and a linear head: the reference "Single" model (keys body.* and fc.*). */
public final class Classifier extends Module {
    private final Backbone body;
    private final Linear fc;
    private final String name;

    public Classifier(String name, Backbone body, int classes, RandomGenerator rng) {
        this.name = name;
        this.body = child("body", body);
        this.fc = child("fc", new Linear(body.output().channels(), classes, true, rng));
    }

    public Backbone body() { return body; }

    @Override
    public Tensor forward(Tensor x) {
        return fc.call(body.call(x).adaptiveAvgPool2d(1, 1).flatten(1, -1));
    }

    @Override
    public String toString() {
        return "Classifier(" + name + ")";
    }
}
