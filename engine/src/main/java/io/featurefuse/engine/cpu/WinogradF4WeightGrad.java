package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;
import static io.featurefuse.engine.cpu.WinogradConv.roundUp;
import static io.featurefuse.engine.cpu.WinogradF4.ld;

import jdk.incubator.vector.FloatVector;

/**
 * conv2d's weight gradient for the layers {@link WinogradF4} runs forward, in the same F(4x4,
 * 3x3) domain: {@link WinogradWeightGrad}'s method with 6x6 transforms. dL/dU = sum over tiles of
 * (A dY A^T) * V per (k, c), 36 GEMMs dU_xi (C x K) = V_xi (C x tiles) . M_xi^T, M = A dY A^T
 * with A (6 x 4) the transpose of the forward's A^T; dL/dg = G^T (dL/dU) G. 36 multiply-adds
 * per (k, c) and 16 outputs where F(2x2) takes 64 and the direct sum 144. Measured against the
 * F(2x2) weight gradient it replaces on these layers (3x3 32->32 28x28 b128, jars alternating 3
 * times, GFLOP/s of the direct count, forward+backward): one thread 99-104 -> 108-109, two
 * threads 196-200 -> 203-206.
 */
final class WinogradF4WeightGrad {
    private static final int NR = Gemm.NR, XI = 36, SKEW = WinogradConv.SKEW;
    /** Tiles per step at most (a multiple of NR), and floats of V and M together per step at most (as WinogradWeightGrad). */
    private static final int MAX_TILES = 256, STEP_FLOATS = 1 << 17, LS = Simd.LINE_START;

    private WinogradF4WeightGrad() {}

    /** Floats of one chunk's partial sums: per group and xi, dU_xi as C rows of K (padded to NR) columns. */
    static int partialSize(ConvGeom g) {
        return g.groups() * XI * g.cg() * roundUp(g.kg(), NR);
    }

    /** Per thread: phase planes, dY by (tile, phase, channel), V, packed M, a partial tile, a transform buffer. */
    private static final ThreadLocal<float[][]> SCRATCH =
            ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0], new float[0], new float[0], new float[Gemm.MR * NR], new float[XI * L]});

    /** dU of group grp summed over images [n0, n1) into sums[at..] (see partialSize), overwritten by the first image; sums in a fixed order. */
    static void sumImages(float[] dOut, int dOff, float[] in, int inOff, ConvGeom g, int n0, int n1, int grp, float[] sums, int at) {
        WinogradF4.Tiles t = WinogradF4.Tiles.of(g);
        int cg = g.cg(), kg = g.kg(), kn = roundUp(kg, NR), tilesPadded = roundUp(t.perImage(), NR);
        int step = Math.min(tilesPadded, Math.max(NR, Math.min(MAX_TILES, STEP_FLOATS / (XI * (cg + kn)) / NR * NR))), plane16 = 16 * t.planeStride();
        float[][] scratch = SCRATCH.get();
        // the four buffers in one array, each from a cache line (see LineArrays); dy first, at LS (see dyRows)
        int pAt = LineArrays.after(LS, tilesPadded * 16 * kn), vAt = LineArrays.after(pAt, cg * plane16), mAt = LineArrays.after(vAt, XI * (cg * step + SKEW));
        float[] dy = LineArrays.grow(scratch, 0, LineArrays.after(mAt, XI * (step * kn + SKEW))), planes = dy, v = dy, m = dy;
        float[] tile = scratch[4], tb = scratch[5];
        int[] rows = dyRows(g, t, kn);
        for (int n = n0; n < n1; n++) {
            for (int c = 0; c < cg; c++)
                WinogradF4.phasePlanes(in, inOff + (n * g.c() + grp * cg + c) * g.h() * g.w(), g, t, planes, pAt + c * plane16);
            java.util.Arrays.fill(dy, LS, LS + tilesPadded * 16 * kn, 0f);
            WinogradWeightGrad.transposeChannels(dOut, dOff + (n * g.k() + grp * kg) * g.ohw(), g.ohw(), kg, rows, dy);
            for (int q0 = 0; q0 < tilesPadded; q0 += step) {
                int kc = Math.min(step, tilesPadded - q0), vStride = cg * kc + SKEW, mStride = kc * kn + SKEW;
                int depth = Math.min(kc, t.cols() - q0); // tiles past cols add nothing (see WinogradWeightGrad.sumImages)
                for (int col = q0; col < q0 + depth; col += NR) {
                    int width = Math.min(NR, t.cols() - col);
                    for (int c = 0; c < cg; c++)
                        WinogradF4.transformInput(planes, pAt + c * plane16, t, col, width, width, v, vAt + c * kc + col - q0, vStride, tb);
                }
                for (int p = 0; p < depth; p++)
                    for (int k = 0; k < kn; k += L) transformGradient(dy, LS + (q0 + p) * 16 * kn + k, kn, m, mAt + (k / NR) * kc * NR + p * NR + k % NR, mStride, tb);
                boolean acc = n > n0 || q0 > 0;
                for (int xi = 0; xi < XI; xi++)
                    for (int kp = 0; kp < kn; kp += NR)
                        GemmTiles.sweepRows(v, vAt + xi * vStride, kc, null, 0, 0, cg, m, mAt + xi * mStride + kp * kc, depth,
                                sums, at + xi * cg * kn + kp, kn, NR, acc, tile);
            }
        }
    }

    /**
     * Where dY goes in dy (from LS), made once per call: output y OW + x of channel k to dy[rows[y OW + x] + k],
     * so that dy[LS + (q 16 + 4 a + b) kn + k] = dY[k][4 ty + a][4 tx + b] for tile q = ty TW + tx (the
     * rest of dy, outputs that do not exist and channels k >= kg, is zeroed per image; see
     * WinogradWeightGrad.transposeChannels).
     */
    private static int[] dyRows(ConvGeom g, WinogradF4.Tiles t, int kn) {
        int oh = g.oh(), ow = g.ow(), tw = t.tw();
        int[] rows = new int[oh * ow];
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) rows[y * ow + x] = LS + (((y >> 2) * tw + (x >> 2)) * 16 + (y & 3) * 4 + (x & 3)) * kn;
        return rows;
    }

    /**
     * M = A dY A^T for one tile and L output channels (dY element (a, b) at dy[src + (4 a + b) kn]),
     * element xi of M to m[o + xi s]. A's rows are [1 0 0 0], [1 1 1 1], [1 -1 1 -1], [1 2 4 8],
     * [1 -2 4 -8], [0 0 0 1]: A dY by columns into tb (6 x 4 vectors), then rows.
     *
     * <p>The ten applications of A are written out, not looped, so that this method is over
     * FreqInlineSize (325 bytes; KernelInliningTest) and C2 compiles it on its own. As a 133-byte
     * loop it was inlined into sumImages, and in some JVM runs that compilation left the Vector API
     * calls of the inlined {@link #a} out of line: JFR showed ~4.4 GB of boxed float[] in 9 s of
     * training under WinogradF4WeightGrad.a, and that run took 67 young collections in 60 steps instead of 2-3.
     * The likelier cause, found later: a second float species in the JVM mixed the Vector API's
     * type profiles (see Simd).
     */
    private static void transformGradient(float[] dy, int src, int kn, float[] m, int o, int s, float[] tb) {
        int k4 = 4 * kn, k8 = 8 * kn, k12 = 12 * kn, l4 = 4 * L;
        a(dy, src, src + k4, src + k8, src + k12, tb, 0, l4);
        a(dy, src + kn, src + kn + k4, src + kn + k8, src + kn + k12, tb, L, l4);
        a(dy, src + 2 * kn, src + 2 * kn + k4, src + 2 * kn + k8, src + 2 * kn + k12, tb, 2 * L, l4);
        a(dy, src + 3 * kn, src + 3 * kn + k4, src + 3 * kn + k8, src + 3 * kn + k12, tb, 3 * L, l4);
        a(tb, 0, L, 2 * L, 3 * L, m, o, s);
        a(tb, l4, l4 + L, l4 + 2 * L, l4 + 3 * L, m, o + 6 * s, s);
        a(tb, 2 * l4, 2 * l4 + L, 2 * l4 + 2 * L, 2 * l4 + 3 * L, m, o + 12 * s, s);
        a(tb, 3 * l4, 3 * l4 + L, 3 * l4 + 2 * L, 3 * l4 + 3 * L, m, o + 18 * s, s);
        a(tb, 4 * l4, 4 * l4 + L, 4 * l4 + 2 * L, 4 * l4 + 3 * L, m, o + 24 * s, s);
        a(tb, 5 * l4, 5 * l4 + L, 5 * l4 + 2 * L, 5 * l4 + 3 * L, m, o + 30 * s, s);
    }

    /** A applied to the four vectors at src[i0] .. src[i3], the six results to dst[at], dst[at + step], ... (loads its operands: see WinogradF4.bt). */
    private static void a(float[] src, int i0, int i1, int i2, int i3, float[] dst, int at, int step) {
        FloatVector d0 = ld(src, i0), d1 = ld(src, i1), d2 = ld(src, i2), d3 = ld(src, i3);
        FloatVector four = FloatVector.broadcast(F, 4f), two = FloatVector.broadcast(F, 2f);
        FloatVector p02 = d0.add(d2), p13 = d1.add(d3), q02 = d2.fma(four, d0), q13 = d3.fma(four, d1);
        d0.intoArray(dst, at);
        p02.add(p13).intoArray(dst, at + step);
        p02.sub(p13).intoArray(dst, at + 2 * step);
        q13.fma(two, q02).intoArray(dst, at + 3 * step);        // d0 + 2 d1 + 4 d2 + 8 d3
        q13.fma(two.neg(), q02).intoArray(dst, at + 4 * step);  // d0 - 2 d1 + 4 d2 - 8 d3
        d3.intoArray(dst, at + 5 * step);
    }

    /** The rows of G (6 x 3), as WinogradF4's. */
    private static final double[][] G = {
            {1 / 4.0, 0, 0}, {-1 / 6.0, -1 / 6.0, -1 / 6.0}, {-1 / 6.0, 1 / 6.0, -1 / 6.0},
            {1 / 24.0, 1 / 12.0, 1 / 6.0}, {1 / 24.0, -1 / 12.0, 1 / 6.0}, {0, 0, 1}};

    /** dW (K, C/g, 3, 3) = G^T dU G per (k, c) from the summed dU at sums[at..], in float64. */
    static void toWeights(float[] sums, int at, ConvGeom g, float[] dW) {
        int cg = g.cg(), kg = g.kg(), kn = roundUp(kg, NR), xiStride = cg * kn;
        double[] gu = new double[18];
        for (int grp = 0; grp < g.groups(); grp++)
            for (int k = 0; k < kg; k++)
                for (int c = 0; c < cg; c++) {
                    int src = at + grp * XI * xiStride + c * kn + k, dst = ((grp * kg + k) * cg + c) * 9;
                    for (int r = 0; r < 3; r++) // G^T dU: 3 x 6
                        for (int j = 0; j < 6; j++) {
                            double sum = 0;
                            for (int i = 0; i < 6; i++) sum += G[i][r] * sums[src + (6 * i + j) * xiStride];
                            gu[6 * r + j] = sum;
                        }
                    for (int r = 0; r < 3; r++) // (G^T dU) G: 3 x 3
                        for (int cc = 0; cc < 3; cc++) {
                            double sum = 0;
                            for (int j = 0; j < 6; j++) sum += gu[6 * r + j] * G[j][cc];
                            dW[dst + 3 * r + cc] = (float) sum;
                        }
                }
    }
}
