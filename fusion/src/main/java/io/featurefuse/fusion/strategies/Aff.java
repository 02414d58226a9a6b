package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.Fusion;
import java.util.random.RandomGenerator;

/**
 * Attentional feature fusion (Dai et al., WACV 2021), as the paper's equations:
 * AFF: Z = M(X + Y) * X + (1 - M(X + Y)) * Y (eq. 5). iAFF: the initial integration is itself
 * an AFF with a second MS-CAM, I = M1(X + Y) * X + (1 - M1(X + Y)) * Y, then
 * Z = M2(I) * X + (1 - M2(I)) * Y. Both MS-CAMs are used and nothing is doubled.
 */
public final class Aff extends Fusion {
    private final MsCam first, second;
    private final boolean iterative;

    public Aff(int channels, boolean iterative, RandomGenerator rng) {
        super(Needs.SAME_SHAPE);
        this.iterative = iterative;
        first = child("cam", new MsCam(channels, 4, rng));
        second = iterative ? child("cam2", new MsCam(channels, 4, rng)) : null;
    }

    @Override
    public Tensor fuse(Tensor x, Tensor y) {
        checkSameShape(toString(), x, y);
        Tensor m = first.call(x.add(y));
        Tensor z = x.mul(m).add(y.mul(m.rsub(1)));
        if (!iterative) return z;
        Tensor m2 = second.call(z);
        return x.mul(m2).add(y.mul(m2.rsub(1)));
    }

    @Override
    public String toString() { return iterative ? "iaff" : "aff"; }
}
