package io.featurefuse.fusion;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.models.Classifier;

/** The late-fusion baseline: two whole classifiers trained together, their logits averaged. */
public final class LateFusion extends Module {
    private final Classifier a, b;

    public LateFusion(Classifier a, Classifier b) {
        this.a = child("a", a);
        this.b = child("b", b);
    }

    @Override
    public Tensor forward(Tensor x) {
        return a.call(x).add(b.call(x)).mul(0.5);
    }

    @Override
    public String toString() {
        return "LateFusion";
    }
}
