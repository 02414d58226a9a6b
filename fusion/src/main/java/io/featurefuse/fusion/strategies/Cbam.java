package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.Fusion;
import io.featurefuse.nn.layers.Conv2d;
import io.featurefuse.nn.layers.Linear;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * CBAM-style fusion (Woo et al. 2018) of s = a + b: channel attention sigmoid(MLP(avgpool s) +
 * MLP(maxpool s)) scales s, then spatial attention sigmoid(conv7x7([mean_c, max_c])) scales that.
 */
public final class Cbam extends Fusion {
    private final Linear fc1, fc2;
    private final Conv2d spatial;

    public Cbam(int channels, RandomGenerator rng) {
        super(Needs.SAME_SHAPE);
        int hidden = Math.max(1, channels / 8);
        fc1 = child("fc1", new Linear(channels, hidden, false, rng));
        fc2 = child("fc2", new Linear(hidden, channels, false, rng));
        spatial = child("spatial", new Conv2d(2, 1, 7, 1, 3, false, rng));
    }

    @Override
    public Tensor fuse(Tensor a, Tensor b) {
        checkSameShape(toString(), a, b);
        Tensor s = a.add(b);
        int n = s.size(0), c = s.size(1);
        Tensor avg = s.adaptiveAvgPool2d(1, 1).flatten(1, -1), max = s.adaptiveMaxPool2d(1, 1).flatten(1, -1);
        Tensor ca = fc2.call(fc1.call(avg).relu()).add(fc2.call(fc1.call(max).relu())).sigmoid().reshape(n, c, 1, 1);
        Tensor x = s.mul(ca);
        Tensor pooled = Tensor.concat(List.of(x.mean(true, 1), x.max(true, 1)), 1);
        return x.mul(spatial.call(pooled).sigmoid());
    }

    @Override
    public String toString() { return "cbam"; }
}
