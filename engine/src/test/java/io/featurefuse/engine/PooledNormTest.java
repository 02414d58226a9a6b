package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * batchNormReluPool and batchNormReluMaxPool2d: batchNormRelu then a global average pool or a max
 * pool, to the bit (outputs, every gradient, the running statistics), training and eval, both
 * precisions; finite differences in float64.
 */
class PooledNormTest {
    private static BatchNormSpec spec(Tensor[] leaves, boolean training) {
        return new BatchNormSpec(leaves[3], leaves[4], leaves[1], leaves[2], training, 0.1, 1e-5);
    }

    /** A max pool for planes of h x w: the halving 2x2 one when it fits (the fast kernels), else a random window, stride, padding and ceil mode. */
    static PoolOptions maxPool(SplittableRandom r, int h, int w) {
        if (h % 2 == 0 && w % 2 == 0 && r.nextBoolean()) return PoolOptions.of(2);
        int k = 1 + r.nextInt(Math.min(3, Math.min(h, w))), pad = r.nextInt(k / 2 + 1);
        return new PoolOptions(k, k, 1 + r.nextInt(2), 1 + r.nextInt(2), pad, pad, r.nextBoolean(), false);
    }

    /** Planes of 1 to 40 x 40 values end in every length of partial vector; max pools of every kind. */
    @Property(tries = 40)
    void theFusedPoolsAreTheirCompositions(@ForAll long seed) {
        int[] s = NormTest.shape(seed, 40);
        SplittableRandom r = new SplittableRandom(seed + 5);
        PoolOptions pool = r.nextBoolean() ? null : maxPool(r, s[2], s[3]);
        for (DType dtype : DType.values())
            for (boolean training : new boolean[] {true, false}) {
                Tensor[] fused = NormTest.bnLeaves(seed, s, dtype), plain = NormTest.bnLeaves(seed, s, dtype);
                Tensor yf = pool == null ? Fused.batchNormReluPool(fused[0], spec(fused, training)) : Fused.batchNormReluMaxPool2d(fused[0], spec(fused, training), pool);
                Tensor bn = Fused.batchNormRelu(plain[0], plain[3], plain[4], plain[1], plain[2], training, 0.1, 1e-5);
                Tensor yp = pool == null ? bn.adaptiveAvgPool2d(1, 1) : bn.maxPool2d(pool);
                String what = (pool == null ? "global average " : "max " + pool + " ") + dtype + (training ? " train " : " eval ") + java.util.Arrays.toString(s);
                assertEquals(yp.shape(), yf.shape(), what);
                assertArrayEquals(yp.toArray(), yf.toArray(), 0.0, what);
                Tensor up = Fixtures.values(seed + 9, -1, 1, yp.shape().toArray()).to(dtype);
                yf.backward(up);
                yp.backward(up);
                for (int k = 0; k < 3; k++) assertArrayEquals(plain[k].grad().toArray(), fused[k].grad().toArray(), 0.0, what + " grad " + k);
                for (int k = 3; k < 5; k++) assertArrayEquals(plain[k].toArray(), fused[k].toArray(), 0.0, what + " running stats");
            }
    }

    /** Ties in a max window (the ReLU's zeros, equal values): the first maximum takes the gradient, as maxPool2d's. */
    @Test
    void tiesGoToTheFirstMaximumAsMaxPoolsDo() {
        double[] v = new double[2 * 2 * 6 * 6];
        for (int i = 0; i < v.length; i++) v[i] = (i * 7 % 5) - 2; // few distinct values: many ties and many ReLU zeros
        for (DType dtype : DType.values()) {
            Tensor xf = Tensor.of(v, 2, 2, 6, 6).to(dtype).requiresGrad(true), xp = Tensor.of(v, 2, 2, 6, 6).to(dtype).requiresGrad(true);
            BatchNormSpec bn = new BatchNormSpec(null, null, null, null, true, 0.1, 1e-5);
            Tensor up = Fixtures.values(4, -1, 1, 2, 2, 3, 3).to(dtype);
            Fused.batchNormReluMaxPool2d(xf, bn, PoolOptions.of(2)).backward(up);
            Fused.batchNormRelu(xp, null, null, null, null, true, 0.1, 1e-5).maxPool2d(PoolOptions.of(2)).backward(up);
            assertArrayEquals(xp.grad().toArray(), xf.grad().toArray(), 0.0, dtype.toString());
        }
    }

    @Property(tries = 15, maxDiscardRatio = 20)
    void gradients(@ForAll long seed) {
        int[] s = NormTest.shape(seed, 4);
        int c = s[1];
        Tensor x = Fixtures.values(seed, -2, 2, s), w = Fixtures.values(seed + 1, 0.5, 1.5, c), b = Fixtures.values(seed + 2, -1, 1, c);
        double[] pre = x.batchNorm(null, null, w, b, true, 0.1, 1e-5).toArray();
        Assume.that(java.util.Arrays.stream(pre).allMatch(v -> Math.abs(v) > 0.02) && java.util.Arrays.stream(pre).distinct().count() == pre.length);
        GradCheck.check("batchNormReluPool train", in -> Fused.batchNormReluPool(in.get(0), new BatchNormSpec(null, null, in.get(1), in.get(2), true, 0.1,
                1e-5)), x, w, b);
        Tensor rm = Fixtures.values(seed + 3, -1, 1, c), rv = Fixtures.values(seed + 4, 0.5, 2, c);
        GradCheck.check("batchNormReluPool eval", in -> Fused.batchNormReluPool(in.get(0), new BatchNormSpec(rm, rv, in.get(1), in.get(2), false, 0.1,
                1e-5)), x, w, b);
        PoolOptions pool = maxPool(new SplittableRandom(seed), s[2], s[3]);
        GradCheck.check("batchNormReluMaxPool2d " + pool, in -> Fused.batchNormReluMaxPool2d(in.get(0), new BatchNormSpec(null, null, in.get(1), in.get(2),
                true, 0.1, 1e-5), pool), x, w, b);
    }

    @Test
    void badArgumentsAreClearErrors() {
        Tensor x = Tensor.zeros(2, 3, 4, 4);
        BatchNormSpec bn = new BatchNormSpec(null, null, null, null, true, 0.1, 1e-5);
        assertEquals("batchNormReluPool: input must be [N, C, H, W], not [2, 3, 16]",
                assertThrows(IllegalArgumentException.class, () -> Fused.batchNormReluPool(x.reshape(2, 3, 16), bn)).getMessage());
        assertEquals("batchNormReluPool: weight [4] does not match 3 channels", assertThrows(IllegalArgumentException.class,
                () -> Fused.batchNormReluPool(x, new BatchNormSpec(null, null, Tensor.ones(4), null, true, 0.1, 1e-5))).getMessage());
        assertEquals("batchNormReluMaxPool2d: the 5x5 window does not fit the input 4x4 with padding 0x0",
                assertThrows(IllegalArgumentException.class, () -> Fused.batchNormReluMaxPool2d(x, bn, PoolOptions.of(5))).getMessage());
    }
}
