package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.Fusion;
import io.featurefuse.nn.layers.Conv2d;
import java.util.List;
import java.util.random.RandomGenerator;

/** Gated fusion: g = sigmoid(conv1x1([a, b])) per channel and position, y = g a + (1 - g) b. */
public final class Gated extends Fusion {
    private final Conv2d gate;

    public Gated(int channels, RandomGenerator rng) {
        super(Needs.SAME_SHAPE);
        gate = child("gate", new Conv2d(2 * channels, channels, 1, 1, 0, true, rng));
    }

    @Override
    public Tensor fuse(Tensor a, Tensor b) {
        checkSameShape(toString(), a, b);
        Tensor g = gate.call(Tensor.concat(List.of(a, b), 1)).sigmoid();
        return a.mul(g).add(b.mul(g.rsub(1)));
    }

    @Override
    public String toString() { return "gated"; }
}
