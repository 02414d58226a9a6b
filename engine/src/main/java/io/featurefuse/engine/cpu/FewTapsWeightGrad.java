package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;
import static io.featurefuse.engine.cpu.Parallel.grow;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * The weight gradient of a stride-1 layer with few taps per output channel (C/g x R x S at most
 * {@link #MAX_TAPS}, such as a network's first layer on one-channel images): each dW[k][tap] is a
 * dot product of output-gradient plane k with the input shifted by the tap, summed straight from
 * the planes, 3 taps by 4 channels at a time, one vector of an output row per step. As a GEMM
 * (crs x kg x OH.OW per image) its few rows left the packing of dOut's transpose and a padded copy
 * of it with no work to hide behind: on the Xeon, 1->32 3x3 28x28 b128 spent 34% of its samples in
 * PackedB.transposeEight and 30% in the copy, 25% in the tile kernel. Per call, 2 threads, JVMs
 * alternating twice: 3x3 1930-2267 -> 913-941 us, 5x5 (25 taps) 2556-2662 -> 1840-1853 us.
 *
 * <p>Each image's input planes are first copied into zero-padded planes (rows of W + 2 pw, and
 * rows of zeros above and below), so every tap reads whole vectors without bounds; dOut is read in
 * place (see block for a row's last vector). Output rows must be at least a vector wide. Sums run per
 * lane over the chunk's images in order, each image's whole vectors row by row and then its rows'
 * last vectors, then across lanes in lane order: the same bits on any thread count.
 */
final class FewTapsWeightGrad {
    /** The most taps (C/g R S) this route takes: past it the GEMM's packing is amortised over enough rows. */
    static final int MAX_TAPS = 32;
    private static final int KB = 4, TB = 3;
    /** Lane i holds i. */
    private static final FloatVector LANES = FloatVector.fromArray(F, lanes(), 0);

    private static float[] lanes() {
        float[] v = new float[L];
        for (int i = 0; i < L; i++) v[i] = i;
        return v;
    }

    private FewTapsWeightGrad() {}

    /** Per thread: the 12 sums' lanes of a block. */
    private static final ThreadLocal<float[]> LANE_SUMS = ThreadLocal.withInitial(() -> new float[KB * TB * L]);

    /** Per thread: the padded input planes of a chunk's images. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    static boolean applies(ConvGeom g) {
        return g.sh() == 1 && g.sw() == 1 && g.dh() == 1 && g.dw() == 1 && g.crs() <= MAX_TAPS && g.kg() >= KB && g.ow() >= L;
    }

    /** Padded row length, W + 2 pw: no vector reads past a row's end (a row's last vector ends at the output row's end). */
    private static int pitch(ConvGeom g) {
        return g.w() + 2 * g.pw();
    }

    /** Padded plane size: H + 2 ph rows of pitch. */
    private static int planeSize(ConvGeom g) {
        return (g.h() + 2 * g.ph()) * pitch(g);
    }

    /**
     * out[oOff + tap * kg + k] = sum over images [n0, n1) of dOut_n[grp kg + k] . (input plane of the tap,
     * shifted): the group's weight gradient in the transposed layout Conv2dKernels' partial sums use.
     */
    static void sumImages(float[] dOut, int dOff, float[] in, int inOff, ConvGeom g, int n0, int n1, int grp, float[] out, int oOff) {
        int kg = g.kg(), cg = g.cg(), crs = g.crs(), rs = g.r() * g.s(), ohw = g.ohw(), pitch = pitch(g), plane = planeSize(g);
        int images = n1 - n0;
        float[] padded = grow(SCRATCH.get(), 0, images * cg * plane);
        for (int i = 0; i < images; i++)
            for (int c = 0; c < cg; c++)
                pad(in, inOff + ((n0 + i) * g.c() + grp * cg + c) * g.h() * g.w(), g, padded, (i * cg + c) * plane);
        int[] tapAt = new int[crs]; // where tap (c, i, j)'s window starts in an image's padded planes
        for (int c = 0; c < cg; c++)
            for (int i = 0; i < g.r(); i++)
                for (int j = 0; j < g.s(); j++) tapAt[c * rs + i * g.s() + j] = c * plane + i * pitch + j;
        // a row's whole vectors, all rows as one run of steps: a loop per row ran one or two steps a row and cost
        // more than the multiply-adds (its samples on the loop lines); then each row's last vector, see block
        int ow = g.ow(), whole = ow / L * L, last = ow - L, wholeSteps = g.oh() * (whole / L), tails = whole < ow ? g.oh() : 0;
        int[] at = new int[2 * (wholeSteps + tails)];
        int step = 0;
        for (int y = 0; y < g.oh(); y++)
            for (int x = 0; x < whole; x += L, step++) {
                at[2 * step] = y * ow + x;
                at[2 * step + 1] = y * pitch + x;
            }
        for (int y = 0; y < tails; y++, step++) {
            at[2 * step] = y * ow + last;
            at[2 * step + 1] = y * pitch + last;
        }
        for (int k0 = 0; k0 < kg; k0 += KB) {
            int kb = Math.min(k0, kg - KB); // the last block overlaps the one before instead of running short
            for (int t0 = 0; t0 < crs; t0 += TB) {
                int t1 = Math.min(t0 + 1, crs - 1), t2 = Math.min(t0 + 2, crs - 1);
                block(dOut, dOff + (n0 * g.k() + grp * kg + kb) * ohw, g, images, padded, cg * plane, tapAt[t0], tapAt[t1], tapAt[t2],
                        at, wholeSteps, tails, out, oOff, kb, t0, Math.min(TB, crs - t0));
            }
        }
    }

    /** Copies one input plane into padded at p: ph rows of zeros, then each row with pw zeros either side, then zeros to the plane's end. */
    private static void pad(float[] in, int src, ConvGeom g, float[] padded, int p) {
        int pitch = pitch(g), w = g.w(), pw = g.pw();
        java.util.Arrays.fill(padded, p, p + planeSize(g), 0f);
        for (int y = 0; y < g.h(); y++) System.arraycopy(in, src + y * w, padded, p + (y + g.ph()) * pitch + pw, w);
    }

    /**
     * Channels kb .. kb + 3 against taps at a0, a1, a2 (offsets in an image's padded planes), over all images:
     * 12 sums, kept per lane, then stored for the first `taps` taps at out[oOff + (t0 + q) kg + kb + p]. A row
     * is whole vectors, then, where OW is not a multiple of L, one more vector ending at the row's end whose
     * lanes already counted are zeroed in dOut's vectors (a blend with a mask fixed per call): no load leaves
     * the row, so none needs a mask.
     */
    private static void block(float[] dOut, int d0, ConvGeom g, int images, float[] padded, int imagePlanes, int a0, int a1, int a2,
                              int[] at, int wholeSteps, int tails, float[] out, int oOff, int kb, int t0, int taps) {
        int ow = g.ow(), ohw = g.ohw(), kStride = g.k() * ohw, whole = ow / L * L, last = ow - L;
        VectorMask<Float> fresh = LANES.compare(VectorOperators.GE, (float) (whole - last)); // the tail vector's lanes not yet counted
        FloatVector zero = FloatVector.zero(F);
        FloatVector s00 = zero, s01 = zero, s02 = zero, s10 = zero, s11 = zero, s12 = zero;
        FloatVector s20 = zero, s21 = zero, s22 = zero, s30 = zero, s31 = zero, s32 = zero;
        for (int n = 0; n < images; n++) {
            int d = d0 + n * kStride, p = n * imagePlanes;
            for (int st = 0; st < wholeSteps; st++) {
                int row = d + at[2 * st], in = p + at[2 * st + 1];
                FloatVector g0 = FloatVector.fromArray(F, dOut, row), g1 = FloatVector.fromArray(F, dOut, row + ohw);
                FloatVector g2 = FloatVector.fromArray(F, dOut, row + 2 * ohw), g3 = FloatVector.fromArray(F, dOut, row + 3 * ohw);
                FloatVector v = FloatVector.fromArray(F, padded, in + a0);
                s00 = g0.fma(v, s00);
                s10 = g1.fma(v, s10);
                s20 = g2.fma(v, s20);
                s30 = g3.fma(v, s30);
                v = FloatVector.fromArray(F, padded, in + a1);
                s01 = g0.fma(v, s01);
                s11 = g1.fma(v, s11);
                s21 = g2.fma(v, s21);
                s31 = g3.fma(v, s31);
                v = FloatVector.fromArray(F, padded, in + a2);
                s02 = g0.fma(v, s02);
                s12 = g1.fma(v, s12);
                s22 = g2.fma(v, s22);
                s32 = g3.fma(v, s32);
            }
            // the same body with dOut's vectors blended: kept apart so the whole vectors' steps, nearly all of
            // them, do not pay 4 more vector operations beside their 12 multiply-adds
            for (int st = wholeSteps; st < wholeSteps + tails; st++) {
                int row = d + at[2 * st], in = p + at[2 * st + 1];
                FloatVector g0 = zero.blend(FloatVector.fromArray(F, dOut, row), fresh);
                FloatVector g1 = zero.blend(FloatVector.fromArray(F, dOut, row + ohw), fresh);
                FloatVector g2 = zero.blend(FloatVector.fromArray(F, dOut, row + 2 * ohw), fresh);
                FloatVector g3 = zero.blend(FloatVector.fromArray(F, dOut, row + 3 * ohw), fresh);
                FloatVector v = FloatVector.fromArray(F, padded, in + a0);
                s00 = g0.fma(v, s00);
                s10 = g1.fma(v, s10);
                s20 = g2.fma(v, s20);
                s30 = g3.fma(v, s30);
                v = FloatVector.fromArray(F, padded, in + a1);
                s01 = g0.fma(v, s01);
                s11 = g1.fma(v, s11);
                s21 = g2.fma(v, s21);
                s31 = g3.fma(v, s31);
                v = FloatVector.fromArray(F, padded, in + a2);
                s02 = g0.fma(v, s02);
                s12 = g1.fma(v, s12);
                s22 = g2.fma(v, s22);
                s32 = g3.fma(v, s32);
            }
        }
        // the sums leave as arrays, not through a call: a vector passed to a call C2 did not inline is boxed
        float[] lanes = LANE_SUMS.get();
        s00.intoArray(lanes, 0);
        s10.intoArray(lanes, L);
        s20.intoArray(lanes, 2 * L);
        s30.intoArray(lanes, 3 * L);
        s01.intoArray(lanes, 4 * L);
        s11.intoArray(lanes, 5 * L);
        s21.intoArray(lanes, 6 * L);
        s31.intoArray(lanes, 7 * L);
        s02.intoArray(lanes, 8 * L);
        s12.intoArray(lanes, 9 * L);
        s22.intoArray(lanes, 10 * L);
        s32.intoArray(lanes, 11 * L);
        int kg = g.kg(), o = oOff + t0 * kg + kb;
        for (int q = 0; q < taps; q++)
            for (int p = 0; p < KB; p++) {
                float sum = 0; // lanes in order, as Simd.sumLanes
                for (int i = 0; i < L; i++) sum += lanes[(q * KB + p) * L + i];
                out[o + q * kg + p] = sum;
            }
    }
}
