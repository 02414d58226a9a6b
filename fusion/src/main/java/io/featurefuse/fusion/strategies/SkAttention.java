package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.Fusion;
import io.featurefuse.nn.layers.Linear;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * Selective-kernel style channel attention over the two streams (the reference "attention"):
 * z = GAP(a + b), w = softmax over streams of fc2(relu(fc1(z))) per channel, y = w_a a + w_b b.
 */
public final class SkAttention extends Fusion {
    private final Linear fc1, fc2;
    private final int c;
    private double[] lastMeanWeightA = new double[0];

    public SkAttention(int channels, RandomGenerator rng) {
        super(Needs.SAME_SHAPE);
        c = channels;
        fc1 = child("fc1", new Linear(channels, Math.max(1, channels / 4), true, rng));
        fc2 = child("fc2", new Linear(Math.max(1, channels / 4), 2 * channels, true, rng));
    }

    @Override
    public Tensor fuse(Tensor a, Tensor b) {
        checkSameShape(toString(), a, b);
        int n = a.size(0);
        Tensor z = a.add(b).adaptiveAvgPool2d(1, 1).flatten(1, -1);
        Tensor w = fc2.call(fc1.call(z).relu()).reshape(n, 2, c).softmax(1);
        Tensor wa = w.narrow(1, 0, 1).reshape(n, c, 1, 1), wb = w.narrow(1, 1, 1).reshape(n, c, 1, 1);
        lastMeanWeightA = wa.detach().mean(false, 0, 2, 3).toArray();
        return a.mul(wa).add(b.mul(wb));
    }

    @Override
    public Map<String, double[]> learnedWeights() {
        return Map.of("attention on A per channel (last batch mean)", lastMeanWeightA.clone());
    }

    @Override
    public String toString() { return "attention"; }
}
