package io.featurefuse.engine;

import java.util.random.RandomGenerator;

/** Random initialisers. Values are drawn in row-major order, so one seed gives one tensor. */
final class Init {
    private Init() {}

    static Tensor uniform(RandomGenerator rng, double lo, double hi, Shape s) {
        if (!(lo < hi)) throw new IllegalArgumentException("uniform: lo " + lo + " must be below hi " + hi);
        Tensor t = Tensor.empty(s, DType.F32);
        for (int i = 0; i < t.f().length; i++) t.f()[i] = (float) (lo + (hi - lo) * rng.nextDouble());
        return t;
    }

    static Tensor normal(RandomGenerator rng, double mean, double std, Shape s) {
        if (!(std >= 0)) throw new IllegalArgumentException("normal: std " + std + " must be >= 0");
        Tensor t = Tensor.empty(s, DType.F32);
        for (int i = 0; i < t.f().length; i++) t.f()[i] = (float) (mean + std * rng.nextGaussian());
        return t;
    }

    /** fan_in as PyTorch: dim 1 times the receptive field (dims 2 and up); dim 0 for rank 1. */
    static int fanIn(Shape s, String op) {
        if (s.rank() < 1) throw new IllegalArgumentException(op + ": a scalar has no fan-in");
        if (s.rank() == 1) return s.dim(0);
        int fan = s.dim(1);
        for (int i = 2; i < s.rank(); i++) fan *= s.dim(i);
        if (fan == 0) throw new IllegalArgumentException(op + ": shape " + s + " has fan-in 0");
        return fan;
    }

    static Tensor kaimingUniform(RandomGenerator rng, double a, Shape s) {
        double gain = Math.sqrt(2.0 / (1 + a * a));
        double bound = gain * Math.sqrt(3.0 / fanIn(s, "kaimingUniform"));
        return uniform(rng, -bound, bound, s);
    }

    static Tensor kaimingNormal(RandomGenerator rng, Shape s) {
        return normal(rng, 0, Math.sqrt(2.0 / fanIn(s, "kaimingNormal")), s);
    }
}
