package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Parallel.grow;
import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * The input gradient of one (image, group) where it is not a convolution of its own (a stride
 * above 1, or few input channels; see Conv2dKernels.backwardData): im2col's adjoint done in the
 * zero-padded phase planes P of {@link ImplicitConv.Layout} instead of in dIn, then dIn read
 * out of P. dOut's rows are spread to P's row width Wq (zeros in the Wq - OW columns past each
 * row), so the columns col = W_g^T dOut (crs x OH Wq, a GEMM) have, for each tap, one run that
 * lands in P at a constant shift: it goes in as whole vectors with no bounds to clip. col2im
 * clips each tap's row to the input and, with stride 2, adds every other float, one by one
 * where a row is narrower than two vectors (14 outputs on a 3x3 stride-2 32->64 28x28 layer:
 * col2im and its strided adds were ~45% of that layer's input-gradient samples).
 *
 * <p>Every value of dIn gets col2im's adds in the same tap order, and besides them only the
 * spread columns' products, which are zeros (adding a zero to a sum that starts at +0 changes no
 * bit), so the results are col2im's to the bit for finite weights; an infinite or NaN weight
 * makes those products NaN where col2im would not have added them. Layers with one tap (1x1)
 * stay with col2im: their P is mostly zeros to clear and read back, and they measured slower
 * here (32->64 1x1 stride 2 28x28 b128, 2 threads: ~1.0-1.1 against ~1.7 ms).
 */
final class PhaseDataGradient {
    private static final int LS = Simd.LINE_START;

    private PhaseDataGradient() {}

    /** Per thread: [0] dOut spread to Wq-wide rows, [1] the columns, [2] the phase planes. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0], new float[0]});

    /**
     * dIn's cg planes of (image n, group grp), overwritten (with adding: added to, dIn + gradient), from dOut
     * and the weights wt packed transposed by ImplicitConv.packWeights (group grp at wt0); lay is Layout.of(g),
     * made once per call.
     */
    static void ofImage(float[] dIn, float[] dOut, int dOff, float[] wt, int wt0, ConvGeom g, ImplicitConv.Layout lay, int n, int grp,
                        boolean adding) {
        int kg = g.kg(), crs = g.crs(), ohw = g.ohw(), oh = g.oh(), ow = g.ow(), wq = lay.wq(), cols = lay.cols();
        float[][] scratch = SCRATCH.get();
        int go = dOff + (n * g.k() + grp * kg) * ohw, ld = cols;
        float[] d = dOut;
        if (wq > ow) {
            // dOut's rows spread to Wq columns, zeros in the rest: col's rows then line up with P's.
            // Its k rows, and so col's, ld = colsPadded apart from a line start: every B and C vector
            // of the product on one line (see LineArrays); the columns past cols are zeros and give
            // columns of col that are never read.
            ld = lay.colsPadded();
            d = LineArrays.grow(scratch, 0, kg * ld + L);
            ImplicitConv.spreadRows(dOut, go, kg, oh, ow, d, LS, ld, wq);
            for (int k = 0; k < kg; k++) java.util.Arrays.fill(d, LS + k * ld + cols, LS + (k + 1) * ld, 0f);
            go = LS;
        }
        float[] col = LineArrays.grow(scratch, 1, crs * ld), p = grow(scratch, 2, lay.size() + 2 * L);
        ImplicitConv.planeProduct(wt, wt0, crs, kg, d, go, ld, col, LS);
        java.util.Arrays.fill(p, 0, lay.size(), 0f);
        int[] shift = lay.shift();
        for (int t = 0; t < crs; t++) Conv2dKernels.addInto(p, shift[t], col, LS + t * ld, cols);
        fromPhasePlanes(p, g, lay, dIn, (n * g.c() + grp * g.cg()) * g.h() * g.w(), adding);
    }

    /**
     * dIn's cg planes at dst, overwritten (adding: dIn + P's value): input (ch, y, x) is P's value at padded
     * (y + ph, x + pw), the inverse of ImplicitConv.phasePlanes.
     */
    private static void fromPhasePlanes(float[] p, ConvGeom g, ImplicitConv.Layout lay, float[] dIn, int dst, boolean adding) {
        int sh = g.sh(), sw = g.sw(), w = g.w(), pw = g.pw(), wq = lay.wq(), phase = lay.phase();
        int end = dst + g.cg() * g.h() * w;
        for (int ch = 0; ch < g.cg(); ch++)
            for (int y = 0; y < g.h(); y++, dst += w) {
                int pr = y + g.ph(), row = ch * lay.plane() + pr % sh * sw * phase + pr / sh * wq;
                if (sw == 1) {
                    if (adding) Conv2dKernels.addInto(dIn, dst, p, row + pw, w);
                    else System.arraycopy(p, row + pw, dIn, dst, w);
                } else if (sw == 2) {
                    // input x even from phase pw % 2 at column pw / 2 + x / 2, x odd from the other at (pw + 1) / 2 + x / 2
                    int even = row + pw % 2 * phase + pw / 2, odd = row + (pw + 1) % 2 * phase + (pw + 1) / 2;
                    if (adding) addZippedPairs(p, even, odd, dIn, dst, w);
                    else zipPairs(p, even, odd, dIn, dst, w, end);
                } else {
                    for (int x = 0; x < w; x++) {
                        float v = p[row + (x + pw) % sw * phase + (x + pw) / sw];
                        dIn[dst + x] = adding ? dIn[dst + x] + v : v;
                    }
                }
            }
    }

    /**
     * out[d + 2 i] = p[even + i] and out[d + 2 i + 1] = p[odd + i] for the w outputs: two vectors
     * zipped into 2 L outputs at a time. The last, partial pair is stored whole where that stays
     * before end (the task's part of out: what it writes past the row lands on later rows, which
     * are written after it), else through masks (made here: only a task's last rows need them). The reads
     * may run past the row, into later rows or P's room after its planes, whose values are not
     * stored.
     */
    private static void zipPairs(float[] p, int even, int odd, float[] out, int d, int w, int end) {
        int x = 0;
        for (; x + 2 * L <= w; x += 2 * L) {
            FloatVector a = FloatVector.fromArray(F, p, even + x / 2), b = FloatVector.fromArray(F, p, odd + x / 2);
            a.rearrange(Simd.ZIP_LO, b).intoArray(out, d + x);
            a.rearrange(Simd.ZIP_HI, b).intoArray(out, d + x + L);
        }
        if (x == w) return;
        FloatVector a = FloatVector.fromArray(F, p, even + x / 2), b = FloatVector.fromArray(F, p, odd + x / 2);
        if (d + x + 2 * L <= end) {
            a.rearrange(Simd.ZIP_LO, b).intoArray(out, d + x);
            a.rearrange(Simd.ZIP_HI, b).intoArray(out, d + x + L);
        } else {
            a.rearrange(Simd.ZIP_LO, b).intoArray(out, d + x, F.indexInRange(0, w - x));
            a.rearrange(Simd.ZIP_HI, b).intoArray(out, d + x + L, F.indexInRange(L, w - x));
        }
    }

    /**
     * out[d + 2 i] += p[even + i] and out[d + 2 i + 1] += p[odd + i] for the w outputs, as zipPairs. The last,
     * partial pair goes through masks whatever follows it: the floats past the row are the next row's, still to
     * be added to.
     */
    private static void addZippedPairs(float[] p, int even, int odd, float[] out, int d, int w) {
        int x = 0;
        for (; x + 2 * L <= w; x += 2 * L) {
            FloatVector a = FloatVector.fromArray(F, p, even + x / 2), b = FloatVector.fromArray(F, p, odd + x / 2);
            FloatVector.fromArray(F, out, d + x).add(a.rearrange(Simd.ZIP_LO, b)).intoArray(out, d + x);
            FloatVector.fromArray(F, out, d + x + L).add(a.rearrange(Simd.ZIP_HI, b)).intoArray(out, d + x + L);
        }
        if (x == w) return;
        FloatVector a = FloatVector.fromArray(F, p, even + x / 2), b = FloatVector.fromArray(F, p, odd + x / 2);
        VectorMask<Float> lo = F.indexInRange(0, w - x), hi = F.indexInRange(L, w - x);
        FloatVector.fromArray(F, out, d + x, lo).add(a.rearrange(Simd.ZIP_LO, b)).intoArray(out, d + x, lo);
        FloatVector.fromArray(F, out, d + x + L, hi).add(a.rearrange(Simd.ZIP_HI, b)).intoArray(out, d + x + L, hi);
    }
}
