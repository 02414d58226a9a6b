package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.Fusion;
import io.featurefuse.nn.layers.Linear;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * Selective-kernel style channel attention over the two streams (the reference "attention"):
 * z = GAP(a + b), w = softmax over streams of fc2(relu(fc1(z))) per channel, y = w_a a + w_b b.
 */
public final class SkAttention extends Fusion {
    private final Linear fc1, fc2;
    private final int c, maps;
    private double[] lastMeanWeightA = new double[0];

    public SkAttention(int channels, RandomGenerator rng) {
        this(channels, 2, rng);
    }

    /** SK attention over any number of streams (SKNet's M branches): a softmax over the streams per channel. */
    public SkAttention(int channels, int maps, RandomGenerator rng) {
        super(Needs.SAME_SHAPE);
        if (maps < 2) throw new IllegalArgumentException("attention needs at least two maps, not " + maps);
        c = channels;
        this.maps = maps;
        fc1 = child("fc1", new Linear(channels, Math.max(1, channels / 4), true, rng));
        fc2 = child("fc2", new Linear(Math.max(1, channels / 4), maps * channels, true, rng));
    }

    @Override
    public Tensor fuse(Tensor a, Tensor b) {
        checkSameShape(toString(), a, b);
        return fuseAll(List.of(a, b));
    }

    @Override
    public boolean takesManyMaps() { return true; }

    @Override
    public Tensor fuseAll(List<Tensor> streams) {
        checkMany(toString(), streams, maps, true);
        int n = streams.getFirst().size(0);
        Tensor sum = streams.getFirst();
        for (Tensor m : streams.subList(1, maps)) sum = sum.add(m);
        Tensor z = sum.adaptiveAvgPool2d(1, 1).flatten(1, -1);
        Tensor w = fc2.call(fc1.call(z).relu()).reshape(n, maps, c).softmax(1);
        Tensor y = null;
        for (int i = 0; i < maps; i++) {
            Tensor wi = w.narrow(1, i, 1).reshape(n, c, 1, 1);
            if (i == 0) lastMeanWeightA = wi.detach().mean(false, 0, 2, 3).toArray();
            y = i == 0 ? streams.get(i).mul(wi) : y.add(streams.get(i).mul(wi));
        }
        return y;
    }

    @Override
    public Map<String, double[]> learnedWeights() {
        return Map.of("attention on A per channel (last batch mean)", lastMeanWeightA.clone());
    }

    @Override
    public String toString() { return "attention"; }
}
