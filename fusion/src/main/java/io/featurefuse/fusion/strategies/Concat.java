package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.Fusion;
import io.featurefuse.nn.layers.BatchNorm2d;
import io.featurefuse.nn.layers.Conv2d;
import java.util.List;
import java.util.random.RandomGenerator;

/** Concatenation along channels, then 1x1 conv + BN + ReLU to out channels (the reference "concat"). */
public final class Concat extends Fusion {
    private final Conv2d conv;
    private final BatchNorm2d bn;
    private final int out;

    public Concat(int ca, int cb, int out, RandomGenerator rng) {
        super(Needs.SAME_SIZE);
        this.out = out;
        conv = child("conv", new Conv2d(ca + cb, out, 1, 1, 0, false, rng));
        bn = child("bn", new BatchNorm2d(out));
    }

    @Override
    public int outChannels(int ca, int cb) { return out; }

    @Override
    public Tensor fuse(Tensor a, Tensor b) {
        return bn.call(conv.call(Tensor.concat(List.of(a, b), 1))).relu();
    }

    @Override
    public String toString() { return "concat"; }
}
