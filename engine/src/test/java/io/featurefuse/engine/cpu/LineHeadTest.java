package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * binary's run ends (SimdKernels.lineHead and the overlapping tail): long runs into a line-placed
 * output start their vector loop on the line index, with a head before it, and a run whose length
 * is not a multiple of the vector ends in one vector overlapping the loop's where out is neither
 * operand. Whichever path an element takes, it must get float arithmetic's bits, at every offset,
 * with broadcast operands and in place, and nothing outside the run may be written.
 */
class LineHeadTest {
    private static final int L = Simd.L;
    private static final float UNTOUCHED = -12345f;
    /** Long enough for G1 to start it on a region (the tests run 1 MB regions, as fuse does). */
    private static final int PLACED = Math.max(LineArrays.humongousFloats(), 1 << 18);

    @Test
    void theVectorLoopStartsOnTheLineIndexOfALinePlacedOutput() {
        assertTrue(LineArrays.humongousFloats() > 0, "the tests run G1 with small regions");
        float[] placed = new float[PLACED], small = new float[SimdKernels.LINE_HEAD_MIN + 64];
        for (int oo = 0; oo < 3 * L; oo++) {
            int head = SimdKernels.lineHead(placed, oo, SimdKernels.LINE_HEAD_MIN);
            assertTrue(head >= 0 && head < L, "head " + head + " at " + oo);
            assertEquals(Math.floorMod(Simd.LINE_START, L), (oo + head) % L, "vector loop start at offset " + oo);
            assertEquals(0, SimdKernels.lineHead(placed, oo, SimdKernels.LINE_HEAD_MIN - 1), "short run at " + oo);
            assertEquals(0, SimdKernels.lineHead(small, oo, SimdKernels.LINE_HEAD_MIN), "array of unknown placement, offset " + oo);
        }
    }

    @Test
    void longRunsGiveFloatArithmeticsBitsAtEveryOffset() {
        Random r = new Random(5);
        int n = SimdKernels.LINE_HEAD_MIN + 37;
        float[] a = random(r, n + 3 * L), b = random(r, n + 3 * L);
        for (int oo = 0; oo < 2 * L; oo++) {
            int ao = (oo * 7) % L, bo = (oo * 3 + 1) % L;
            // vector head and tail: plain, b broadcast (stride 0), a broadcast
            check(BinaryOp.ADD, a, ao, 1, b, bo, 1, filled(PLACED), oo, n, (x, y) -> x + y);
            check(BinaryOp.MUL, a, ao, 1, b, bo, 0, filled(PLACED), oo, n, (x, y) -> x * y);
            check(BinaryOp.DIV, a, ao, 0, b, bo, 1, filled(PLACED), oo, n, (x, y) -> x / y);
            // in place, out the first operand or the second: head and tail one element at a time
            float[] in = placedCopy(a);
            float[] want = in.clone();
            for (int i = 0; i < n; i++) want[oo + i] = in[oo + i] - b[bo + i];
            SimdKernels.binary(BinaryOp.SUB, in, oo, 1, b, bo, 1, in, oo, n);
            assertArrayBits(want, in, "in place sub at offset " + oo);
            in = placedCopy(b);
            want = in.clone();
            for (int i = 0; i < n; i++) want[oo + i] = Math.max(a[ao + i] + in[oo + i], 0f);
            SimdKernels.binary(BinaryOp.ADD_RELU, a, ao, 1, in, oo, 1, in, oo, n);
            assertArrayBits(want, in, "in place add_relu into the second operand at offset " + oo);
        }
    }

    @Test
    void shortRunsEndInAnOverlappingVectorWithFloatArithmeticsBits() {
        Random r = new Random(6);
        float[] a = random(r, 8 * L), b = random(r, 8 * L);
        for (int n = L; n <= 4 * L + 3; n += 3)
            for (int oo = 0; oo < L; oo++) {
                check(BinaryOp.SUB, a, oo + 1, 1, b, 2 * oo % L, 1, filled(6 * L), oo, n, (x, y) -> x - y);
                check(BinaryOp.MAX, a, oo, 1, b, 5, 0, filled(6 * L), oo, n, Math::max);
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

    private static void check(BinaryOp op, float[] a, int ao, int as, float[] b, int bo, int bs, float[] out, int oo, int n, FloatOp f) {
        SimdKernels.binary(op, a, ao, as, b, bo, bs, out, oo, n);
        for (int i = 0; i < Math.min(out.length, oo + n + 2 * L); i++) {
            int k = i - oo;
            float want = k < 0 || k >= n ? UNTOUCHED : f.apply(a[ao + k * as], b[bo + k * bs]);
            assertEquals(want, out[i], op + " strides " + as + "," + bs + ", n " + n + ", index " + i + " at offset " + oo);
        }
    }

    private static void assertArrayBits(float[] want, float[] got, String what) {
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], what + ", index " + i);
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() + (i % 3 == 0 ? 0.5 : 0));
        return v;
    }

    private static float[] placedCopy(float[] v) {
        float[] p = new float[PLACED];
        System.arraycopy(v, 0, p, 0, v.length);
        return p;
    }

    private static float[] filled(int n) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, UNTOUCHED);
        return v;
    }
}
