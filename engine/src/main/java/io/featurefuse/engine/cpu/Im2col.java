package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;

/**
 * The im2col matrix of a convolution, for the routes that multiply it as it is (see
 * Conv2dKernels): each row one (channel, tap) of the kernel, each column one output position,
 * the input value that tap reads there or 0 in the padding; written plainly ({@link #matrix}, for
 * the weight gradient) or straight into {@link Gemm}'s packed layout for B ({@link #packed}, the
 * forward), and its adjoint ({@link #col2im}, the input gradient). Stride-2 rows are
 * gathered and scattered in vectors.
 */
final class Im2col {
    private Im2col() {}

    /** Per thread: one channel's samples (subsampledPacked). */
    private static final ThreadLocal<float[][]> PLANE = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    /** col[(c R + i) S + j][y OW + x] = in[c][y sh - ph + i dh][x sw - pw + j dw], 0 outside. */
    static void matrix(float[] in, int inBase, ConvGeom g, float[] col) {
        int ow = g.ow(), ohw = g.ohw();
        for (int c = 0; c < g.cg(); c++)
            for (int i = 0; i < g.r(); i++)
                for (int j = 0; j < g.s(); j++) {
                    int row = ((c * g.r() + i) * g.s() + j) * ohw;
                    int dx = j * g.dw() - g.pw(), x0 = g.firstColumn(dx), x1 = g.endColumn(dx, x0);
                    for (int y = 0; y < g.oh(); y++) {
                        int iy = y * g.sh() - g.ph() + i * g.dh();
                        int dst = row + y * ow;
                        if (iy < 0 || iy >= g.h()) {
                            java.util.Arrays.fill(col, dst, dst + ow, 0f);
                            continue;
                        }
                        int src = inBase + (c * g.h() + iy) * g.w() + dx;
                        java.util.Arrays.fill(col, dst, dst + x0, 0f);
                        if (g.sw() == 2) everyOther(in, src + 2 * x0, col, dst + x0, x1 - x0);
                        else if (g.sw() != 1) for (int x = x0; x < x1; x++) col[dst + x] = in[src + x * g.sw()];
                        else if (x1 > x0) System.arraycopy(in, src + x0, col, dst + x0, x1 - x0); // src + x0 may precede the array when empty
                        java.util.Arrays.fill(col, dst + x1, dst + ow, 0f);
                    }
                }
    }

    /**
     * out[d + i] = in[s + 2 i] for i in [0, n): pairs of vectors unzipped, while they stay inside
     * in; the rest one by one. A stride-2 layer's im2col gathered these one at a time: its two
     * im2col loops were ~20% of a 1x1 stride-2 32->64 28x28 b128 fwd+bwd's samples, now ~12%
     * (the layer's rate moved within noise, ~41-50 -> ~43-48 GFLOP/s).
     */
    private static void everyOther(float[] in, int s, float[] out, int d, int n) {
        int i = 0;
        for (; i + L <= n && s + 2 * (i + L) <= in.length; i += L) {
            FloatVector a = FloatVector.fromArray(F, in, s + 2 * i), b = FloatVector.fromArray(F, in, s + 2 * i + L);
            a.rearrange(Simd.UNZIP_EVEN, b).intoArray(out, d + i);
        }
        // a last run short of L (a 28-wide row's 14): one pair unzipped, stored under a mask; one by one, it
        // and the copy after it were ~45% of a 1x1 stride-2 32->64 28x28 forward's samples
        if (i < n && s + 2 * (i + L) <= in.length) {
            FloatVector a = FloatVector.fromArray(F, in, s + 2 * i), b = FloatVector.fromArray(F, in, s + 2 * i + L);
            a.rearrange(Simd.UNZIP_EVEN, b).intoArray(out, d + i, F.indexInRange(i, n));
            return;
        }
        for (; i < n; i++) out[d + i] = in[s + 2 * i];
    }

    /**
     * {@link #matrix} in {@link Gemm}'s packed layout for B (crs x ohw): each row's values go to its
     * panels NR at a time, contiguous runs copied with arraycopy, and the padding columns
     * zeroed.
     */
    static void packed(float[] in, int inBase, ConvGeom g, float[] dst) {
        if (g.r() == 1 && g.s() == 1 && g.sw() == 2 && g.ph() == 0 && g.pw() == 0) {
            subsampledPacked(in, inBase, g, dst);
            return;
        }
        int ow = g.ow(), ohw = g.ohw(), crs = g.crs(), nr = Gemm.panelWidth();
        int padded = (ohw + nr - 1) / nr * nr;
        Cursor cur = new Cursor();
        float[] row2 = g.sw() == 2 ? new float[ow] : null; // a stride-2 row's values, gathered in vectors
        for (int c = 0; c < g.cg(); c++)
            for (int i = 0; i < g.r(); i++)
                for (int j = 0; j < g.s(); j++) {
                    int row = (c * g.r() + i) * g.s() + j;
                    cur.start(Gemm.packedRowStart(crs, ohw, row), Gemm.packedPanelStride(crs, row), nr);
                    int dx = j * g.dw() - g.pw(), x0 = g.firstColumn(dx), x1 = g.endColumn(dx, x0);
                    for (int y = 0; y < g.oh(); y++) {
                        int iy = y * g.sh() - g.ph() + i * g.dh();
                        if (iy < 0 || iy >= g.h()) {
                            cur.zeros(dst, ow);
                            continue;
                        }
                        int src = inBase + (c * g.h() + iy) * g.w() + dx;
                        cur.zeros(dst, x0);
                        if (g.sw() == 1) cur.copy(in, src + x0, dst, x1 - x0);
                        else if (g.sw() == 2) {
                            everyOther(in, src + 2 * x0, row2, 0, x1 - x0);
                            cur.copy(row2, 0, dst, x1 - x0);
                        } else for (int x = x0; x < x1; x++) cur.put(dst, in[src + x * g.sw()]);
                        cur.zeros(dst, ow - x1);
                    }
                    cur.zeros(dst, padded - ohw);
                }
    }

    /**
     * packed() of a 1x1 layer of column stride 2 without padding: each channel's samples gathered
     * into one plane, then copied into its packed row a panel at a time (a row of a 28-wide map is 14
     * values, and copied run by run into the panels they straddle, the copies took a third of the
     * gather's time).
     */
    private static void subsampledPacked(float[] in, int inBase, ConvGeom g, float[] dst) {
        int ow = g.ow(), ohw = g.ohw(), crs = g.crs(), nr = Gemm.panelWidth();
        float[] plane = Parallel.grow(PLANE.get(), 0, ohw);
        for (int c = 0; c < g.cg(); c++) {
            for (int y = 0; y < g.oh(); y++) everyOther(in, inBase + (c * g.h() + y * g.sh()) * g.w(), plane, y * ow, ow);
            int at = Gemm.packedRowStart(crs, ohw, c), stride = Gemm.packedPanelStride(crs, c);
            for (int j = 0; j < ohw; j += nr, at += stride) {
                int piece = Math.min(nr, ohw - j);
                System.arraycopy(plane, j, dst, at, piece);
                if (piece < nr) java.util.Arrays.fill(dst, at + piece, at + nr, 0f);
            }
        }
    }

    /** Position in one packed row: panel start and lane; runs are split at panel ends. */
    private static final class Cursor {
        int panel, lane, stride, width;

        void start(int rowStart, int panelStride, int nr) {
            panel = rowStart;
            lane = 0;
            stride = panelStride;
            width = nr;
        }

        private void advance(int n) {
            lane += n;
            if (lane == width) {
                lane = 0;
                panel += stride;
            }
        }

        void put(float[] dst, float v) {
            dst[panel + lane] = v;
            advance(1);
        }

        void copy(float[] src, int from, float[] dst, int n) {
            while (n > 0) {
                int piece = Math.min(n, width - lane);
                System.arraycopy(src, from, dst, panel + lane, piece);
                from += piece;
                n -= piece;
                advance(piece);
            }
        }

        void zeros(float[] dst, int n) {
            while (n > 0) {
                int piece = Math.min(n, width - lane);
                java.util.Arrays.fill(dst, panel + lane, panel + lane + piece, 0f);
                n -= piece;
                advance(piece);
            }
        }
    }

    /** The adjoint of matrix(): dIn[...] += col[...] over the same index map. */
    static void col2im(float[] col, ConvGeom g, float[] dIn, int inBase) {
        int ow = g.ow(), ohw = g.ohw();
        for (int c = 0; c < g.cg(); c++)
            for (int i = 0; i < g.r(); i++)
                for (int j = 0; j < g.s(); j++) {
                    int row = ((c * g.r() + i) * g.s() + j) * ohw;
                    int dx = j * g.dw() - g.pw(), x0 = g.firstColumn(dx), x1 = g.endColumn(dx, x0);
                    for (int y = 0; y < g.oh(); y++) {
                        int iy = y * g.sh() - g.ph() + i * g.dh();
                        if (iy < 0 || iy >= g.h()) continue;
                        int src = row + y * ow, rowStart = inBase + (c * g.h() + iy) * g.w(), dst = rowStart + dx;
                        if (g.sw() == 1) Conv2dKernels.addInto(dIn, dst + x0, col, src + x0, x1 - x0);
                        else if (g.sw() == 2) addEveryOther(dIn, dst + 2 * x0, rowStart + g.w(), col, src + x0, x1 - x0);
                        else for (int x = x0; x < x1; x++) dIn[dst + x * g.sw()] += col[src + x];
                    }
                }
    }

    /**
     * dst[d + 2 i] += src[s + i] for i in [0, n) (stride 2): L sources zipped with zeros into two
     * vectors added over 2 L floats of dst, the odd ones plus 0 (unchanged, but for -0 becoming
     * +0). Vectors stop where 2 L floats would pass end (the row's end; the next row may belong to
     * another task); the rest goes one by one. The scalar strided loop took ~10% of a 3x3
     * stride-2 32->64 28x28 b128 fwd+bwd, this ~8%: that fwd+bwd ~80-86 -> ~84-89 GFLOP/s (jars
     * alternating 5 times). Letting the vectors run on to the end of the task's part of dIn, a
     * last part vector's sources zeroed by a mask, measured slower (79-85).
     */
    private static void addEveryOther(float[] dst, int d, int end, float[] src, int s, int n) {
        FloatVector zero = FloatVector.zero(F);
        int i = 0;
        for (; i + L <= n && d + 2 * (i + L) <= end; i += L) {
            FloatVector v = FloatVector.fromArray(F, src, s + i);
            int o = d + 2 * i;
            FloatVector.fromArray(F, dst, o).add(v.rearrange(Simd.ZIP_LO, zero)).intoArray(dst, o);
            FloatVector.fromArray(F, dst, o + L).add(v.rearrange(Simd.ZIP_HI, zero)).intoArray(dst, o + L);
        }
        for (; i < n; i++) dst[d + 2 * i] += src[s + i];
    }
}
