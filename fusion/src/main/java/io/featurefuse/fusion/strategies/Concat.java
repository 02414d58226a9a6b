package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.ResizeSpec;
import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.Fusion;
import io.featurefuse.nn.layers.BatchNorm2d;
import io.featurefuse.nn.layers.Conv2d;
import io.featurefuse.nn.layers.OpFusion;
import java.util.List;
import java.util.random.RandomGenerator;

/** Concatenation along channels of two or more maps, then 1x1 conv + BN + ReLU to out channels (the reference "concat"). */
public final class Concat extends Fusion {
    private final Conv2d conv;
    private final BatchNorm2d bn;
    private final int out, maps;

    public Concat(int ca, int cb, int out, RandomGenerator rng) {
        this(new int[] {ca, cb}, out, rng);
    }

    /** For maps of the given channel counts (any number from two). */
    public Concat(int[] channels, int out, RandomGenerator rng) {
        super(Needs.SAME_SIZE);
        if (channels.length < 2) throw new IllegalArgumentException("concat needs at least two maps, not " + channels.length);
        this.out = out;
        this.maps = channels.length;
        conv = child("conv", new Conv2d(java.util.Arrays.stream(channels).sum(), out, 1, 1, 0, false, rng));
        bn = child("bn", new BatchNorm2d(out));
    }

    @Override
    public int outChannels(int ca, int cb) { return out; }

    @Override
    public Tensor fuse(Tensor a, Tensor b) {
        return fuseAll(List.of(a, b));
    }

    @Override
    public boolean takesManyMaps() { return true; }

    @Override
    public Tensor fuseAll(List<Tensor> maps) {
        checkMany(toString(), maps, this.maps, false);
        Tensor joined = Tensor.concat(maps, 1);
        if (!OpFusion.foldsBn(bn)) return bn.callAfter(conv, joined, true);
        // Inference: BN folded into the 1x1 conv and the ReLU applied in its output pass (one pass
        // over the output instead of two); the concatenated input is this call's own, so it goes back
        // to the buffer pool at once.
        Tensor y = OpFusion.convBn(conv, bn, true, joined);
        joined.recycle();
        return y;
    }

    /**
     * fuseAll(maps) averaged over each plane, [N, out, 1, 1]: what a classifier head goes on from. Recording, the
     * 1x1 conv reads the maps where they lie and the pool runs inside BN's pass (BatchNorm2d.callReluPooledAfter),
     * so neither the joined input nor the fused map is written; the same values as the pool of fuseAll.
     */
    public Tensor fuseAllPooled(List<Tensor> maps) {
        if (!OpFusion.foldsBn(bn)) {
            checkMany(toString(), maps, this.maps, false);
            return bn.callReluPooledAfter(conv, maps);
        }
        Tensor y = fuseAll(maps), pooled = y.adaptiveAvgPool2d(1, 1);
        y.recycle(); // inference: this call's own map
        return pooled;
    }

    /**
     * fuseAllPooled(each map resized to to's size): recording, a smaller map goes through the 1x1 conv at its own size and
     * the conv's output is resized (a resize commutes with a 1x1 conv; BatchNorm2d.callReluPooledAfter with to), so the
     * resized map is never made and its multiply-adds shrink with it; in inference the same, BN folded into the conv.
     * Equal values but for their last bits.
     */
    public Tensor fuseAllPooled(List<Tensor> maps, ResizeSpec to) {
        if (maps.size() != this.maps) throw new IllegalArgumentException(this + " was built for " + this.maps + " maps, not " + maps.size());
        if (OpFusion.foldsBn(bn)) { // inference: BN folded into the conv, the ReLU in its output pass; the fused map is this call's own
            Tensor y = OpFusion.convBnReluOfResizedConcat(conv, bn, maps, to), pooled = y.adaptiveAvgPool2d(1, 1);
            y.recycle();
            return pooled;
        }
        return bn.callReluPooledAfter(conv, maps, to); // the engine names maps that disagree
    }

    @Override
    public String toString() { return "concat"; }
}
