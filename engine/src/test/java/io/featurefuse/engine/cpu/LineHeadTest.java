package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The element-wise kernels' scalar head (SimdKernels.lineHead): long runs take their first
 * elements one at a time so that the vector stores start at an index congruent to
 * Simd.LINE_START. Whichever path an element takes, it must get the bits float arithmetic gives,
 * at every output offset, with broadcast operands and in place, and nothing outside the run may
 * be written.
 */
class LineHeadTest {
    private static final int L = Simd.L;
    private static final float UNTOUCHED = -12345f;

    @Test
    void theVectorLoopStartsOnTheLineIndex() {
        for (int oo = 0; oo < 3 * L; oo++) {
            int head = SimdKernels.lineHead(oo, SimdKernels.LINE_HEAD_MIN);
            assertEquals(true, head >= 0 && head < L, "head " + head + " at " + oo);
            assertEquals(Math.floorMod(Simd.LINE_START, L), (oo + head) % L, "vector loop start at offset " + oo);
            assertEquals(0, SimdKernels.lineHead(oo, SimdKernels.LINE_HEAD_MIN - 1), "short run at " + oo);
        }
    }

    @Test
    void binaryRunsGiveFloatArithmeticsBitsAtEveryOffset() {
        Random r = new Random(5);
        int n = SimdKernels.LINE_HEAD_MIN + 37;
        float[] a = random(r, n + 3 * L), b = random(r, n + 3 * L);
        for (int oo = 0; oo < 2 * L; oo++) {
            int ao = (oo * 7) % L, bo = (oo * 3 + 1) % L;
            // plain, a broadcast b (stride 0), and in place over a copy of a
            check(BinaryOp.ADD, a, ao, 1, b, bo, 1, oo, n, (x, y) -> x + y);
            check(BinaryOp.MUL, a, ao, 1, b, bo, 0, oo, n, (x, y) -> x * y);
            check(BinaryOp.DIV, a, ao, 0, b, bo, 1, oo, n, (x, y) -> x / y);
            float[] in = a.clone();
            float[] want = new float[in.length];
            for (int i = 0; i < n; i++) want[oo + i] = in[oo + i] - b[bo + i];
            SimdKernels.binary(BinaryOp.SUB, in, oo, 1, b, bo, 1, in, oo, n);
            for (int i = 0; i < n; i++) assertEquals(want[oo + i], in[oo + i], "in place sub, element " + i + " at offset " + oo);
        }
    }

    @Test
    void unaryAndScaleAndAddRunsGiveFloatArithmeticsBitsAtEveryOffset() {
        Random r = new Random(6);
        int n = SimdKernels.LINE_HEAD_MIN + 21;
        float[] x = random(r, n + 3 * L);
        for (int oo = 0; oo < 2 * L; oo++) {
            int xo = (oo * 5 + 2) % L;
            float[] out = filled(n + 3 * L);
            SimdKernels.unary(UnaryOp.LEAKY_RELU, x, xo, 1, out, oo, 1, n, 0.25, 0);
            for (int i = 0; i < out.length; i++) {
                int k = i - oo;
                float v = k < 0 || k >= n ? UNTOUCHED : x[xo + k] > 0 ? x[xo + k] : x[xo + k] * 0.25f;
                assertEquals(v, out[i], "leaky_relu, index " + i + " at offset " + oo);
            }
            float[] y = x.clone(), want = x.clone();
            for (int i = 0; i < n; i++) want[oo + i] = 0.9f * y[oo + i] + -0.3f * x[xo + i];
            SimdKernels.scaleAndAdd(0.9f, y, oo, 1, -0.3f, x, xo, 1, n);
            for (int i = 0; i < y.length; i++) assertEquals(want[i], y[i], "scaleAndAdd, index " + i + " at offset " + oo);
        }
    }

    @Test
    void runsWhoseScalarFormRoundsOtherwiseStayOnTheVectorPath() {
        // n a multiple of L: no tail, so every element must get the vector's bits at every offset
        Random r = new Random(7);
        int n = SimdKernels.LINE_HEAD_MIN + 4 * L;
        float[] x = random(r, n + 3 * L), zeros = new float[n + 3 * L], out = new float[n + 3 * L];
        java.util.Arrays.fill(zeros, -0f);
        for (int oo = 0; oo < L; oo++) {
            // leaky_relu's slope 0.01 is not a float: x * 0.01f, not (float) (x * 0.01)
            SimdKernels.unary(UnaryOp.LEAKY_RELU, x, oo, 1, out, oo, 1, n, 0.01, 0);
            for (int i = 0; i < n; i++)
                assertEquals(x[oo + i] > 0 ? x[oo + i] : x[oo + i] * 0.01f, out[oo + i], "leaky_relu(0.01), element " + i + " at offset " + oo);
            // pow(x, 0.5) runs as sqrt, which keeps -0; Math.pow(-0.0, 0.5) is +0
            SimdKernels.unary(UnaryOp.POW_SCALAR, zeros, oo, 1, out, oo, 1, n, 0.5, 0);
            for (int i = 0; i < n; i++) assertEquals(-0f, out[oo + i], "pow(-0, 0.5), element " + i + " at offset " + oo);
        }
    }

    @Test
    void signKeepsTheSignOfZeroOnTheVectorPath() {
        float[] x = new float[2 * L], out = new float[2 * L];
        for (int i = 0; i < x.length; i++) x[i] = i % 2 == 0 ? -0f : 0f;
        SimdKernels.unary(UnaryOp.SIGN, x, 0, 1, out, 0, 1, x.length, 0, 0);
        for (int i = 0; i < x.length; i++) assertEquals(Math.signum(x[i]), out[i], "sign at " + i);
    }

    private interface FloatOp {
        float apply(float x, float y);
    }

    private static void check(BinaryOp op, float[] a, int ao, int as, float[] b, int bo, int bs, int oo, int n, FloatOp f) {
        float[] out = filled(n + 3 * L);
        SimdKernels.binary(op, a, ao, as, b, bo, bs, out, oo, n);
        for (int i = 0; i < out.length; i++) {
            int k = i - oo;
            float want = k < 0 || k >= n ? UNTOUCHED : f.apply(a[ao + k * as], b[bo + k * bs]);
            assertEquals(want, out[i], op + " strides " + as + "," + bs + ", index " + i + " at offset " + oo);
        }
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() + (i % 3 == 0 ? 0.5 : 0));
        return v;
    }

    private static float[] filled(int n) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, UNTOUCHED);
        return v;
    }
}
