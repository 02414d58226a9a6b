package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/** Batch, group and layer norm: definitions by example, running statistics, fast vs reference, gradients. */
class NormTest {

    static int[] shape(long seed, int maxSide) {
        SplittableRandom r = new SplittableRandom(seed);
        return new int[] {2 + r.nextInt(3), 2 * (1 + r.nextInt(3)), 1 + r.nextInt(maxSide), 1 + r.nextInt(maxSide)};
    }

    @Property(tries = 40)
    void fastMatchesReference(@ForAll long seed) {
        int[] s = shape(seed, 9);
        int c = s[1];
        Tensor x = Fixtures.values(seed, -2, 2, s), w = Fixtures.values(seed + 1, 0.5, 1.5, c), b = Fixtures.values(seed + 2, -1, 1, c);
        Tensor rm = Fixtures.values(seed + 3, -1, 1, c), rv = Fixtures.values(seed + 4, 0.5, 2, c);
        Tensor lw = Fixtures.values(seed + 5, 0.5, 1.5, s[2], s[3]);
        assertClose("batchNorm train", x.to(DType.F32).batchNorm(null, null, w.to(DType.F32), b.to(DType.F32), true, 0.1, 1e-5),
                x.batchNorm(null, null, w, b, true, 0.1, 1e-5), 2e-5, 2e-5);
        assertClose("batchNorm eval", x.to(DType.F32).batchNorm(rm.to(DType.F32), rv.to(DType.F32), w.to(DType.F32), b.to(DType.F32), false, 0.1, 1e-5),
                x.batchNorm(rm, rv, w, b, false, 0.1, 1e-5), 2e-5, 2e-5);
        assertClose("groupNorm", x.to(DType.F32).groupNorm(2, w.to(DType.F32), b.to(DType.F32), 1e-5), x.groupNorm(2, w, b, 1e-5), 2e-5, 2e-5);
        assertClose("layerNorm", x.to(DType.F32).layerNorm(new int[] {s[2], s[3]}, lw.to(DType.F32), null, 1e-5),
                x.layerNorm(new int[] {s[2], s[3]}, lw, null, 1e-5), 2e-5, 2e-5);
    }

    /**
     * A channel whose values nearly agree has a large 1/std: written as x * scale + (beta - mean *
     * scale) the two terms cancel in float32 (this case was off by 3.4e-5); the kernel takes the
     * mean off first. Inputs are exact in float32, so only the kernel's arithmetic differs.
     */
    @Test
    void batchNormOfNearlyEqualValuesKeepsItsDigits() {
        float[] v = {1.25f, -0.75f, 1.2578125f, -0.7421875f}; // (n, c) = (0, 0), (0, 1), (1, 0), (1, 1): 2^-7 apart per channel
        Tensor x = Tensor.of(v, 2, 2, 1, 1), w = Tensor.of(new float[] {1.5f, 0.75f}, 2), b = Tensor.of(new float[] {-0.5f, 0.25f}, 2);
        Tensor x64 = x.to(DType.F64), w64 = w.to(DType.F64), b64 = b.to(DType.F64);
        assertClose("batchNorm train", x.batchNorm(null, null, w, b, true, 0.1, 1e-5), x64.batchNorm(null, null, w64, b64, true, 0.1, 1e-5),
                2e-6, 2e-6);
    }

    /** The float32 training backward (both per-channel sums in one pass, then the input gradient) against float64. */
    @Property(tries = 30)
    void batchNormGradientsMatchReference(@ForAll long seed) {
        int[] s = shape(seed, 12);
        int c = s[1];
        Tensor x = Fixtures.values(seed, -2, 2, s), w = Fixtures.values(seed + 1, 0.5, 1.5, c), b = Fixtures.values(seed + 2, -1, 1, c);
        Tensor up = Fixtures.values(seed + 3, -1, 1, s);
        Tensor rx = x.copy().requiresGrad(true), rw = w.copy().requiresGrad(true), rb = b.copy().requiresGrad(true);
        Tensor fx = x.to(DType.F32).requiresGrad(true), fw = w.to(DType.F32).requiresGrad(true), fb = b.to(DType.F32).requiresGrad(true);
        rx.batchNorm(null, null, rw, rb, true, 0.1, 1e-5).backward(up);
        fx.batchNorm(null, null, fw, fb, true, 0.1, 1e-5).backward(up.to(DType.F32));
        assertClose("batchNorm d/dx", fx.grad(), rx.grad(), 5e-5, 5e-5);
        assertClose("batchNorm d/dgamma", fw.grad(), rw.grad(), 5e-5, 5e-5);
        assertClose("batchNorm d/dbeta", fb.grad(), rb.grad(), 5e-5, 5e-5);
    }

    @Property(tries = 15)
    void gradients(@ForAll long seed) {
        int[] s = shape(seed, 4);
        int c = s[1];
        Tensor x = Fixtures.values(seed, -2, 2, s), w = Fixtures.values(seed + 1, 0.5, 1.5, c), b = Fixtures.values(seed + 2, -1, 1, c);
        Tensor rm = Fixtures.values(seed + 3, -1, 1, c), rv = Fixtures.values(seed + 4, 0.5, 2, c);
        GradCheck.check("batchNorm train", in -> in.get(0).batchNorm(null, null, in.get(1), in.get(2), true, 0.1, 1e-5), x, w, b);
        GradCheck.check("batchNorm eval", in -> in.get(0).batchNorm(rm, rv, in.get(1), in.get(2), false, 0.1, 1e-5), x, w, b);
        GradCheck.check("groupNorm", in -> in.get(0).groupNorm(2, in.get(1), in.get(2), 1e-5), x, w, b);
        GradCheck.check("layerNorm", in -> in.get(0).layerNorm(new int[] {s[3]}, null, null, 1e-5), x);
    }

    /** batchNormRelu is relu(batchNorm) to the bit: outputs, every gradient and the running statistics, training and eval. */
    @Property(tries = 30)
    void fusedReluIsExactlyReluOfBatchNorm(@ForAll long seed) {
        int[] s = shape(seed, 40);
        int c = s[1];
        for (DType dtype : DType.values())
            for (boolean training : new boolean[] {true, false}) {
                Tensor[] fused = bnLeaves(seed, s, dtype), plain = bnLeaves(seed, s, dtype);
                Tensor yf = Fused.batchNormRelu(fused[0], fused[3], fused[4], fused[1], fused[2], training, 0.1, 1e-5);
                Tensor yp = plain[0].batchNorm(plain[3], plain[4], plain[1], plain[2], training, 0.1, 1e-5).relu();
                String what = "batchNormRelu " + dtype + (training ? " train " : " eval ") + java.util.Arrays.toString(s);
                assertArrayEquals(yp.toArray(), yf.toArray(), 0.0, what);
                Tensor up = Fixtures.values(seed + 9, -1, 1, s).to(dtype);
                yf.backward(up);
                yp.backward(up);
                for (int k = 0; k < 3; k++) assertArrayEquals(plain[k].grad().toArray(), fused[k].grad().toArray(), 0.0, what + " grad " + k);
                for (int k = 3; k < 5; k++) assertArrayEquals(plain[k].toArray(), fused[k].toArray(), 0.0, what + " running stats");
                assertEquals(c, fused[3].numel());
            }
    }

    /**
     * Where the normalised value is exactly 0 the ReLU passes no gradient (as relu() does): the
     * fused backward recomputes that mask from x, so its test must be "above 0" in the vector
     * lanes and in a plane's scalar tail alike. Image 1 is image 0 negated, so each channel's mean
     * is exactly 0 and every x = 0 normalises to exactly 0; planes of 35 values put zeros in both.
     */
    @Test
    void fusedReluPassesNoGradientWhereTheNormalisedValueIsExactlyZero() {
        int[] s = {2, 2, 5, 7};
        double[] v = new double[2 * 2 * 35];
        for (int i = 0; i < 70; i++) v[i] = (i % 3) - 1;
        for (int i = 0; i < 70; i++) v[70 + i] = -v[i];
        for (DType dtype : DType.values()) {
            Tensor xf = Tensor.of(v, s).to(dtype).requiresGrad(true), xp = Tensor.of(v, s).to(dtype).requiresGrad(true);
            Tensor w = Fixtures.values(3, 0.5, 1.5, 2).to(dtype);
            Tensor up = Fixtures.values(4, -1, 1, s).to(dtype);
            Fused.batchNormRelu(xf, null, null, w, null, true, 0.1, 1e-5).backward(up);
            xp.batchNorm(null, null, w, null, true, 0.1, 1e-5).relu().backward(up);
            assertArrayEquals(xp.grad().toArray(), xf.grad().toArray(), 0.0, "batchNormRelu " + dtype + " d/dx");
        }
    }

    /** x, weight, bias (requiring grad), running mean and var. */
    static Tensor[] bnLeaves(long seed, int[] s, DType dtype) {
        int c = s[1];
        return new Tensor[] {Fixtures.values(seed, -2, 2, s).to(dtype).requiresGrad(true), Fixtures.values(seed + 1, 0.5, 1.5, c).to(dtype).requiresGrad(true),
                Fixtures.values(seed + 2, -1, 1, c).to(dtype).requiresGrad(true), Fixtures.values(seed + 3, -1, 1, c).to(dtype),
                Fixtures.values(seed + 4, 0.5, 2, c).to(dtype)};
    }

    @Property(tries = 15, maxDiscardRatio = 20)
    void fusedReluGradients(@ForAll long seed) {
        int[] s = shape(seed, 3);
        int c = s[1];
        Tensor x = Fixtures.values(seed, -2, 2, s), w = Fixtures.values(seed + 1, 0.5, 1.5, c), b = Fixtures.values(seed + 2, -1, 1, c);
        double[] pre = x.batchNorm(null, null, w, b, true, 0.1, 1e-5).toArray();
        net.jqwik.api.Assume.that(java.util.Arrays.stream(pre).allMatch(v -> Math.abs(v) > 0.02));
        GradCheck.check("batchNormRelu train", in -> Fused.batchNormRelu(in.get(0), null, null, in.get(1), in.get(2), true, 0.1, 1e-5), x, w, b);
    }

    @Test
    void batchNormNormalisesPerChannelAndUpdatesRunningStatsLikePyTorch() {
        // channel 0: 1, 3, 5, 7 (mean 4, biased var 5, unbiased 20/3); channel 1: 2, 2, 2, 2
        Tensor x = Tensor.of(new double[] {1, 3, 2, 2, 5, 7, 2, 2}, 2, 2, 2, 1);
        Tensor rm = Tensor.of(new double[] {0, 0}, 2), rv = Tensor.of(new double[] {1, 1}, 2);
        Tensor y = x.batchNorm(rm, rv, null, null, true, 0.1, 0);
        assertArrayEquals(new double[] {-3 / Math.sqrt(5), -1 / Math.sqrt(5)}, y.narrow(1, 0, 1).narrow(0, 0, 1).reshape(2).toArray(), 1e-12);
        assertArrayEquals(new double[] {0.4, 0.2}, rm.toArray(), 1e-12);
        assertArrayEquals(new double[] {0.9 + 0.1 * 20 / 3.0, 0.9}, rv.toArray(), 1e-12);
        Tensor e = x.batchNorm(rm, rv, Tensor.of(new double[] {2, 1}, 2), Tensor.of(new double[] {1, 0}, 2), false, 0.1, 0);
        assertEquals(2 * (1 - 0.4) / Math.sqrt(0.9 + 2 / 3.0) + 1, e.get(0, 0, 0, 0), 1e-12);
    }

    @Test
    void assignIsRefusedWhileRecordingOnParameters() {
        Tensor w = Tensor.ones(3).requiresGrad(true);
        assertThrows(IllegalStateException.class, () -> w.assign(Tensor.zeros(3)));
        try (var off = GradMode.off()) {
            w.assign(Tensor.scalar(2));
        }
        assertArrayEquals(new double[] {2, 2, 2}, w.toArray());
        Tensor m = Tensor.arange(4).reshape(2, 2);
        m.assign(m.transpose(0, 1));
        assertArrayEquals(new double[] {0, 2, 1, 3}, m.toArray());
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(3).assign(Tensor.zeros(4)));
    }

    @Test
    void badShapesAreClearErrors() {
        Tensor x = Tensor.zeros(2, 3, 4, 4);
        assertEquals("batchNorm: weight [4] does not match 3 channels",
                assertThrows(IllegalArgumentException.class, () -> x.batchNorm(null, null, Tensor.ones(4), null, true, 0.1, 1e-5)).getMessage());
        assertEquals("groupNorm: 3 channels do not divide into 2 groups",
                assertThrows(IllegalArgumentException.class, () -> x.groupNorm(2, null, null, 1e-5)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> x.layerNorm(new int[] {3}, null, null, 1e-5));
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(1, 3, 1, 1).batchNorm(null, null, null, null, true, 0.1, 1e-5));
    }
}
