package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;
import static io.featurefuse.engine.cpu.Parallel.grow;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * conv2d forward (and the weight gradient) as an implicit GEMM, without an im2col matrix.
 * Each input plane is copied once into a zero-padded plane P, split into phase planes when the
 * stride is above 1 (see {@link Layout}). Computing Wq output columns per output row (the last
 * Wq - OW are discarded), the im2col row of kernel tap (c, i, j) is P itself shifted by a
 * constant, so the micro-kernel reads its B vectors straight from P through a table of shifts.
 * Measured reason: im2col took ~40% of the forward time of a 3x3 64->64 14x14 layer (25-30 ms
 * of ~65 ms for 128 images on one thread). The weights are packed once per call, shared by all
 * images; tasks are (image, group).
 */
final class ImplicitConv {
    private static final int MR = Gemm.MR, NR = Gemm.NR, LS = Simd.LINE_START;

    private ImplicitConv() {}

    /**
     * Any stride and dilation whose taps read every phase plane, with enough (image, group)
     * tasks for the threads. A stride-2 3x3 layer (32->64, 28x28 -> 14x14, b128) ran at ~50
     * GFLOP/s forward through im2col + GEMM and ~70-80 here. A 1x1 stride-2 layer reads one
     * phase in four: copying all four cost more than im2col's gather (forward 41 -> 19 GFLOP/s).
     */
    static boolean applies(ConvGeom g) {
        return appliesToWeights(g) && g.n() * g.groups() >= Parallel.threads();
    }

    /**
     * Unpadded, stride 1: P's layout is the input's own (channel planes of H x W, Wq = W), so the
     * forward reads it in place instead of copying it (measured on 1x1 160->128 14x14 b128, 2
     * threads: ~100 -> ~108 GFLOP/s forward; 1x1 layers now take the pointwise route in forward).
     */
    private static boolean readsInPlace(ConvGeom g) {
        return g.ph() == 0 && g.pw() == 0 && g.sh() == 1 && g.sw() == 1;
    }

    /** 1x1, stride 1, unpadded: the forward's B rows are the input planes themselves (see planeProduct). */
    static boolean pointwise(ConvGeom g) {
        return g.r() == 1 && g.s() == 1 && readsInPlace(g);
    }

    /** The forward computes one column per output, not Wq per output row (see forwardExact). */
    private static boolean exact(ConvGeom g) {
        return !pointwise(g) && g.ow() >= L && ceilDiv(g.w() + 2 * g.pw(), g.sw()) > g.ow();
    }

    /** Where this class runs a forward, true when its tiles are TapTiles' (which also add the bias and clamp). */
    static boolean writesByTapTiles(ConvGeom g) {
        return exact(g) && TapTiles.applies(g);
    }

    /** The weight gradient takes the same route, for the same strides and dilations. */
    static boolean appliesToWeights(ConvGeom g) {
        return readsEveryPhase(g.r(), g.dh(), g.sh()) && readsEveryPhase(g.s(), g.dw(), g.sw());
    }

    /** True when the taps t dilation, t < taps, cover every residue modulo stride. */
    private static boolean readsEveryPhase(int taps, int dilation, int stride) {
        if (stride == 1) return true;
        boolean[] seen = new boolean[stride];
        int count = 0;
        for (int t = 0; t < taps && count < stride; t++)
            if (!seen[t * dilation % stride]) {
                seen[t * dilation % stride] = true;
                count++;
            }
        return count == stride;
    }

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0], new float[0], new float[0]});

    /**
     * Where P keeps the input. With stride sh x sw, the zero-padded plane (Hp x Wp) is split into
     * sh sw phase planes, Hq x Wq each: phase (a, b) holds padded rows a, a + sh, ... and columns
     * b, b + sw, ... Output (y, x) reads tap (i, j) at phase ((i dh) % sh, (j dw) % sw), row
     * y + (i dh) / sh, column x + (j dw) / sw: with Wq columns computed per output row
     * (column index y Wq + x, the last Wq - OW discarded), each tap is P shifted by a constant.
     * With stride 1 there is one phase, the padded plane itself.
     */
    record Layout(int wq, int phase, int plane, int cols, int colsPadded, int[] shift, int size) {
        static Layout of(ConvGeom g) {
            int sh = g.sh(), sw = g.sw(), hq = ceilDiv(g.h() + 2 * g.ph(), sh), wq = ceilDiv(g.w() + 2 * g.pw(), sw);
            int phase = hq * wq, plane = sh * sw * phase, cols = g.oh() * wq, colsPadded = ceilDiv(cols, NR) * NR;
            int[] shift = new int[g.crs()];
            int max = 0;
            for (int c = 0; c < g.cg(); c++)
                for (int i = 0; i < g.r(); i++)
                    for (int j = 0; j < g.s(); j++) {
                        int ri = i * g.dh(), rj = j * g.dw();
                        int at = c * plane + (ri % sh * sw + rj % sw) * phase + ri / sh * wq + rj / sw;
                        shift[(c * g.r() + i) * g.s() + j] = at;
                        max = Math.max(max, at);
                    }
            // reads reach shift + col + NR - 1 for col < colsPadded
            return new Layout(wq, phase, plane, cols, colsPadded, shift, Math.max(max + colsPadded, g.cg() * plane));
        }
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    /**
     * P = the cg input planes of (image, group) at src in lay's phase planes, zeros elsewhere up to lay.size();
     * p must hold L floats past that. With stride 1, a row no wider than a vector goes in as one masked load
     * stored whole: the lanes past the row are zeros, which land on padding or on later rows, written after it
     * (7-wide rows, 3x3 48->96 7x7: a System.arraycopy call per row was ~12% of the weight gradient's samples).
     */
    private static void phasePlanes(float[] in, int src, ConvGeom g, Layout lay, float[] p) {
        java.util.Arrays.fill(p, 0, lay.size(), 0f);
        int sh = g.sh(), sw = g.sw(), wq = lay.wq();
        ShortRow shortRow = sw == 2 && g.w() < 2 * L ? ShortRow.of(g.w()) : null;
        boolean shortRows = sh == 1 && sw == 1 && g.w() <= L;
        VectorMask<Float> rowLanes = F.indexInRange(0, Math.min(g.w(), L));
        for (int ch = 0; ch < g.cg(); ch++)
            for (int y = 0; y < g.h(); y++) {
                int pr = y + g.ph(), row = ch * lay.plane() + pr % sh * sw * lay.phase() + pr / sh * wq, s = src + (ch * g.h() + y) * g.w();
                if (shortRows) {
                    FloatVector.fromArray(F, in, s, rowLanes).intoArray(p, row + g.pw());
                    continue;
                }
                if (sw == 1) {
                    System.arraycopy(in, s, p, row + g.pw(), g.w());
                    continue;
                }
                if (sw == 2) {
                    splitPairs(in, s, g.w(), g.pw(), p, row, lay.phase(), shortRow);
                    continue;
                }
                // padded column x + pw goes to phase (x + pw) % sw at column (x + pw) / sw: one plain loop per phase
                for (int b = 0; b < sw; b++) {
                    int x = Math.floorMod(b - g.pw(), sw), d = row + b * lay.phase() + (x + g.pw()) / sw;
                    for (; x < g.w(); x += sw) p[d++] = in[s + x];
                }
            }
    }

    /**
     * A row of w inputs split by column parity (stride 2): input x, padded column x + pw, goes to
     * phase (x + pw) % 2 at column (x + pw) / 2 of the row at {@code row}, phases {@code phase}
     * floats apart. Each block of 2 L inputs (x0 even) is unzipped in registers: its L even
     * elements land in phase pw % 2 from column x0 / 2 + pw / 2, its odd ones in the other phase
     * from x0 / 2 + (pw + 1) / 2. The last block starts at the last even x0 that fits and may
     * overlap the one before (it rewrites the same values); an odd w's last input is copied
     * alone. The scalar strided loop this replaces took ~25% of a 3x3 stride-2 32->64 28x28 b128
     * forward (JFR samples): with 256-bit vectors, ~62-67 -> ~80-91 GFLOP/s (2 threads, jars
     * alternating; PyTorch 1.13 ran it at 79-93 that hour).
     * <p>A row narrower than a block (w = 28 with 512-bit vectors) is one block read and written
     * through masks (short, made once per call), so nothing past the row is read or written. It
     * went element by element before: 25% of that layer's forward samples and of its weight
     * gradient's were in phasePlanes. With the masks (Xeon, 2 threads, harness, steady state, JVMs
     * alternating twice): forward 5.3 -> 4.6-4.7 ms, weight gradient 6.2-6.4 -> 5.6 ms. Masks are
     * kept to these rows because masked stores are slow with AVX2. The loads are masked only where a
     * whole vector would run past the array (the last row): the lanes past the row are then other
     * rows' values, which the masked stores leave out (as WinogradF4.phasePlanes reads its rows). Zen 5:
     * JFR over 150 train steps, samples in this phasePlanes 551 -> 316 of ~15,000; 3x3 stride-2 32->64
     * 28x28 b128 (2 threads, jars alternating 3 times) forward 5.0-5.1 -> 4.1-4.4 ms, forward+backward
     * 14.6-16.3 -> 12.7-13.8 ms best.
     */
    private static void splitPairs(float[] in, int s, int w, int pw, float[] p, int row, int phase, ShortRow shortRow) {
        int even = row + pw % 2 * phase + pw / 2, odd = row + (pw + 1) % 2 * phase + (pw + 1) / 2;
        if (w < 2 * L) {
            boolean inside = s + 2 * L <= in.length;
            FloatVector a = inside ? FloatVector.fromArray(F, in, s) : FloatVector.fromArray(F, in, s, shortRow.low());
            FloatVector b = inside ? FloatVector.fromArray(F, in, s + L) : FloatVector.fromArray(F, in, s + L, shortRow.high());
            a.rearrange(Simd.UNZIP_EVEN, b).intoArray(p, even, shortRow.even());
            a.rearrange(Simd.UNZIP_ODD, b).intoArray(p, odd, shortRow.odd());
            return;
        }
        int last = (w - 2 * L) & ~1;
        for (int x0 = 0; ; x0 = Math.min(x0 + 2 * L, last)) {
            FloatVector a = FloatVector.fromArray(F, in, s + x0), b = FloatVector.fromArray(F, in, s + x0 + L);
            a.rearrange(Simd.UNZIP_EVEN, b).intoArray(p, even + x0 / 2);
            a.rearrange(Simd.UNZIP_ODD, b).intoArray(p, odd + x0 / 2);
            if (x0 == last) break;
        }
        if ((w & 1) != 0) { // odd w: the blocks end at w - 2
            int xp = w - 1 + pw;
            p[row + xp % 2 * phase + xp / 2] = in[s + w - 1];
        }
    }

    /** The masks of a row of w &lt; 2 L inputs: its lanes in the first and second vector read, and the even and odd elements written. */
    private record ShortRow(VectorMask<Float> low, VectorMask<Float> high, VectorMask<Float> even, VectorMask<Float> odd) {
        static ShortRow of(int w) {
            return new ShortRow(F.indexInRange(0, w), F.indexInRange(L, w), F.indexInRange(0, (w + 1) / 2), F.indexInRange(0, w / 2));
        }
    }

    /**
     * dW_g^T (crs x kg, overwritten in tmp) of one image and group: the implicit im2col matrix
     * (rows of P, Wq columns per output row) times dOut^T, where dOut is spread to Wq-wide rows
     * with zeros in the Wq - OW columns that have no output. lay is Layout.of(g), made once per
     * call (once per image it was 3 MB/s of the reference train step's allocations).
     */
    static void weightGradientOfImage(float[] dOut, int dOff, float[] in, int inOff, ConvGeom g, Layout lay, int n, int grp, float[] tmp) {
        int kg = g.kg(), crs = g.crs();
        int cols = lay.cols(), wq = lay.wq();
        float[][] scratch = SCRATCH.get();
        float[] p = grow(scratch, 0, lay.size() + L), d = grow(scratch, 1, kg * cols + L);
        phasePlanes(in, inOff + (n * g.c() + grp * g.cg()) * g.h() * g.w(), g, lay, p);
        spreadRows(dOut, dOff + (n * g.k() + grp * kg) * g.ohw(), kg, g.oh(), g.ow(), d, 0, cols, wq);
        Gemm.sgemmRows(crs, kg, cols, p, 0, lay.shift(), d, 0, true, cols, tmp, 0, kg);
    }

    /**
     * The k planes of oh rows of ow at src, each row spread to wq columns with zeros in the rest: plane i's row y at
     * d[at + i ld + y wq], d overwritten from at to at + (k - 1) ld + oh wq (and L floats past it, where rows
     * narrower than a vector go in whole; see phasePlanes). The columns between oh wq and ld are left as they are.
     */
    static void spreadRows(float[] src, int s, int k, int oh, int ow, float[] d, int at, int ld, int wq) {
        if (ow <= L && wq <= L) {
            VectorMask<Float> row = F.indexInRange(0, ow);
            for (int i = 0; i < k; i++)
                for (int y = 0; y < oh; y++) FloatVector.fromArray(F, src, s + (i * oh + y) * ow, row).intoArray(d, at + i * ld + y * wq);
            return;
        }
        for (int i = 0; i < k; i++)
            for (int y = 0; y < oh; y++) {
                int to = at + i * ld + y * wq;
                System.arraycopy(src, s + (i * oh + y) * ow, d, to, ow);
                java.util.Arrays.fill(d, to + ow, to + wq, 0f);
            }
    }

    // written: null, or told as each image's planes are done (see Conv2dKernels.Written)
    static void forward(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g, boolean relu,
                        Conv2dKernels.Written written) {
        forwardImages(out, in, inOff, packed(w, wOff, g), bias, bOff, g, relu, written, 0, g.n());
    }

    /** The weights as forward reads them (for {@link #forwardImages}): packed for the tap tiles or for the sweeps. */
    static float[] packed(float[] w, int wOff, ConvGeom g) {
        int groups = g.groups(), kg = g.kg(), crs = g.crs();
        return writesByTapTiles(g) ? PackCache.get("tap-tiles", w, wOff, g.k() * crs, () -> TapTiles.pack(w, wOff, groups, kg, crs), groups, kg, crs)
                : PackCache.get("implicit", w, wOff, g.k() * crs, () -> packWeights(w, wOff, false, groups, kg, crs), groups, kg, crs);
    }

    /**
     * forward for images [first, end) alone, the weights ap packed by {@link #packed}: parallel over those images, or on
     * the calling thread within a task (DataGradient's chunks). An image's output does not depend on the range.
     */
    static void forwardImages(float[] out, float[] in, int inOff, float[] ap, float[] bias, int bOff, ConvGeom g, boolean relu,
                              Conv2dKernels.Written written, int first, int end) {
        int groups = g.groups(), kg = g.kg(), cg = g.cg(), crs = g.crs();
        Layout lay = Layout.of(g);
        int wq = lay.wq(), colsPadded = lay.colsPadded(), pSize = lay.size();
        int rowBlocks = (kg + MR - 1) / MR, kc = Gemm.kBlock(crs);
        int[] shift = lay.shift(); // B's rows are P shifted
        boolean pointwise = pointwise(g), exact = exact(g), tapTiles = writesByTapTiles(g);
        int groupStride = tapTiles ? TapTiles.packedGroupSize(kg, crs) : packedGroupSize(kg, crs);
        int hw = g.h() * g.w(), ohw = g.ohw();
        /*
         * 1x1, stride 1, unpadded: C's columns are the output's, so the tiles go straight into the
         * output (no copy of the valid columns), and B's rows are the input planes, read in place
         * by planeProduct (which says what packing them cost).
         */
        TapPlanes taps = exact ? TapPlanes.of(g) : null;
        Parallel.forEach((end - first) * groups, Conv2dKernels.thenWritten(t -> {
            int n = first + t / groups, grp = t % groups;
            float[][] scratch = SCRATCH.get();
            int src = inOff + (n * g.c() + grp * cg) * hw;
            if (pointwise) {
                int outBase = (n * g.k() + grp * kg) * ohw;
                planeProduct(ap, grp * groupStride, kg, crs, in, src, ohw, out, outBase);
                biasReluInPlace(out, outBase, kg, ohw, bias, bOff + grp * kg, relu);
                return;
            }
            if (exact) {
                forwardExact(out, in, src, bias, bOff, g, taps, tapTiles, ap, grp * groupStride, relu, n, grp, scratch);
                return;
            }
            // C from LS = LINE_START, on a cache line (see LineArrays); the panel stays in L1, where lines matter less
            float[] c = LineArrays.grow(scratch, 1, rowBlocks * MR * colsPadded), p = grow(scratch, 0, pSize + L);
            float[] panel = grow(scratch, 2, kc * NR), tile = grow(scratch, 3, MR * NR);
            int pOff = 0;
            if (readsInPlace(g) && src + pSize <= in.length) {
                // no padding, stride 1: the input planes are P as they are (the reads past them stay inside the array)
                p = in;
                pOff = src;
            } else {
                phasePlanes(in, src, g, lay, p);
            }
            for (int pc = 0; pc < crs; pc += kc) {
                int kcb = Math.min(kc, crs - pc);
                boolean acc = pc > 0;
                for (int col = 0; col < colsPadded; col += NR) {
                    gatherPanel(p, pOff + col, shift, pc, kcb, panel);
                    GemmTiles.sweep(ap, grp * groupStride + pc * rowBlocks * MR, 0, rowBlocks * MR, panel, 0, kcb, c, LS + col, colsPadded, NR, acc, tile);
                }
            }
            for (int k = 0; k < kg; k++)
                keepValidColumns(c, LS + k * colsPadded, wq, out, (n * g.k() + grp * kg + k) * ohw, g.oh(), g.ow(),
                        bias == null ? 0f : bias[bOff + grp * kg + k], relu);
        }, written, g, 1, first));
    }

    /**
     * Output rows at least a vector wide (OW >= L) and narrower than P's (Wq > OW: the layer pads
     * or strides): C's columns are the output's own, one per
     * output (y, x), not Wq per output row, so the tiles go straight into the output planes and
     * no column is computed to be thrown away. B's rows are read from {@link TapPlanes}, where
     * each tap's row is contiguous across output rows.
     * 5x5 1->32 28x28 (Wq = 32): the Wq-wide route computed 896 columns for 784 outputs and
     * then copied the 784 out of C (a 112 KB buffer per image, past L1), which took ~21% of that
     * layer's forward samples.
     */
    private static void forwardExact(float[] out, float[] in, int src, float[] bias, int bOff, ConvGeom g, TapPlanes taps, boolean tapTiles,
                                     float[] ap, int a0, boolean relu, int n, int grp, float[][] scratch) {
        int kg = g.kg(), crs = g.crs(), ohw = g.ohw(), rowBlocks = (kg + MR - 1) / MR, kc = Gemm.kBlock(crs);
        float[] q = taps.fill(in, src, g);
        int outBase = (n * g.k() + grp * kg) * ohw;
        if (tapTiles) { // ap packed by TapTiles.pack; bias and relu in the tiles' stores
            TapTiles.multiply(ap, a0, kg, crs, q, taps.shift(), out, outBase, ohw, bias, bOff + grp * kg, relu);
            return;
        }
        float[] panel = grow(scratch, 2, kc * NR), tile = grow(scratch, 3, MR * NR);
        for (int pc = 0; pc < crs; pc += kc) {
            int kcb = Math.min(kc, crs - pc);
            for (int col = 0; col < ohw; col += NR) {
                gatherPanel(q, col, taps.shift(), pc, kcb, panel);
                GemmTiles.sweep(ap, a0 + pc * rowBlocks * MR, 0, kg, panel, 0, kcb, out, outBase + col, ohw, Math.min(NR, ohw - col), pc > 0, tile);
            }
        }
        biasReluInPlace(out, outBase, kg, ohw, bias, bOff + grp * kg, relu);
    }

    /** The kg output planes of ohw floats at out[outBase], written by the tiles: bias[b0 + k] added to plane k, relu clamped, in place. */
    static void biasReluInPlace(float[] out, int outBase, int kg, int ohw, float[] bias, int b0, boolean relu) {
        if (bias == null && !relu) return;
        for (int k = 0; k < kg; k++)
            keepValidColumns(out, outBase + k * ohw, ohw, out, outBase + k * ohw, 1, ohw, bias == null ? 0f : bias[b0 + k], relu);
    }

    /**
     * Weights packed once per call for {@link #planeProduct} and the sweeps here: per group, the
     * m x kdim matrix op(W_g) (W_g at wOff + grp m kdim; transposed: stored kdim x m) as
     * MR x kc micro-panels for each k block of Gemm.kBlock(kdim) and row block, rowBlocks MR
     * kdim floats per group.
     */
    static float[] packWeights(float[] w, int wOff, boolean transposed, int groups, int m, int kdim) {
        return packWeights(w, wOff, transposed, transposed ? m : kdim, groups, m, kdim);
    }

    /** As above, W_g's rows ld floats apart (transposed: its kdim rows of m): a block of columns of a wider matrix. */
    static float[] packWeights(float[] w, int wOff, boolean transposed, int ld, int groups, int m, int kdim) {
        int rowBlocks = (m + MR - 1) / MR, kc = Gemm.kBlock(kdim), groupStride = packedGroupSize(m, kdim);
        float[] ap = new float[groups * groupStride];
        for (int grp = 0; grp < groups; grp++)
            for (int pc = 0; pc < kdim; pc += kc) {
                int kcb = Math.min(kc, kdim - pc);
                for (int rb = 0; rb < rowBlocks; rb++)
                    PackedA.pack(w, wOff + grp * m * kdim, transposed, ld, null, rb * MR, Math.min(MR, m - rb * MR), pc, kcb, ap,
                            grp * groupStride + pc * rowBlocks * MR + rb * kcb * MR);
            }
        return ap;
    }

    /** Floats of one group's weights packed by {@link #packWeights}: m rounded up to MR rows of kdim. */
    static int packedGroupSize(int m, int kdim) {
        return (m + MR - 1) / MR * MR * kdim;
    }

    /**
     * C (m x cols, rows cols apart at out[outBase]) = A . B for one image, on the calling thread:
     * A packed by {@link #packWeights} from ap[a0], B the kdim planes of cols floats at b[src]
     * (row q at src + q cols); the tiles go straight into C. A 1x1 stride-1 layer's forward (B
     * the input planes, C the output planes) and the columns of a strided layer's input gradient
     * (B dOut, A W^T) run here.
     * <p>B is read where it lies, NR columns of kc rows cols apart, except a partial last panel
     * (cols not a multiple of NR): that one is packed, so no read passes the planes' end.
     * Packing every panel (the row pieces copied into kc x NR panels first) cost the copy itself
     * and, with the input in cache, nothing was gained back: 1x1 160->128 14x14 b128, 2 threads,
     * this method alone over the batch (harness, 12 alternations in 3 JVMs): 3.25-3.76 ms packed
     * against 3.14-3.43 in place; with each thread's input in cache 2.88-3.21 against 2.69-2.82,
     * the same as with no B copy at all (2.65-2.89). (Packing once measured faster, with four-row
     * tiles that loaded B twice as often per FMA.) What is left over the in-cache figure is the
     * input's first read from memory; loads issued ahead to pull it in (a line of the next
     * panel's rows between tiles) stalled the FMAs behind them and measured slower, 3.5-3.73 ms.
     * Rechecked on the Xeon once packed panels had a faster tile than B in place (GemmTiles.tileKernel8
     * against tileKernel8Strided, 194 against 162 GFLOP/s in cache; harness, 2 threads, 2
     * alternations, medians): packing every panel, 1x1 160->128 forward 3.80/4.13 ms against
     * 3.88/3.90 in place, the 3x3 stride-2 32->64 input gradient 4.72/4.67 against 4.37/4.66.
     */
    static void planeProduct(float[] ap, int a0, int m, int kdim, float[] b, int src, int cols, float[] out, int outBase) {
        float[][] scratch = SCRATCH.get();
        float[] panel = grow(scratch, 1, Gemm.kBlock(kdim) * NR), tile = grow(scratch, 2, MR * NR);
        for (int col = 0; col < cols; col += NR) panelProduct(ap, a0, m, kdim, b, src, cols, col, false, out, outBase, panel, tile);
    }

    /**
     * C's NR columns from col (fewer at the end) of m rows, cols apart at out[outBase], from A's k blocks at ap[at]
     * (Gemm.kBlock(kdim) deep, packed by packWeights) and B's kdim rows at b[src], cols apart: planeProduct's step,
     * which PointwiseParts runs once per part. The first block's tiles start from C when acc, the others always;
     * panel holds a k block of NR columns. Returns where A's next blocks start.
     */
    static int panelProduct(float[] ap, int at, int m, int kdim, float[] b, int src, int cols, int col, boolean acc, float[] out, int outBase,
                            float[] panel, float[] tile) {
        int kc = Gemm.kBlock(kdim), rowBlocks = (m + MR - 1) / MR, nr = Math.min(NR, cols - col);
        for (int pc = 0; pc < kdim; pc += kc) {
            int kcb = Math.min(kc, kdim - pc);
            if (nr == NR) {
                GemmTiles.sweep(ap, at, 0, m, b, src + pc * cols + col, cols, kcb, out, outBase + col, cols, NR, acc || pc > 0, tile);
            } else {
                packColumns(b, src + pc * cols + col, cols, nr, kcb, panel);
                GemmTiles.sweep(ap, at, 0, m, panel, 0, kcb, out, outBase + col, cols, nr, acc || pc > 0, tile);
            }
            at += rowBlocks * MR * kcb;
        }
        return at;
    }

    /**
     * The kc x NR panel of the nr &lt; NR columns at src of kc rows ld apart: row q's at panel[q NR..];
     * nothing past a row's nr columns is read. The panel's columns past nr keep what they held:
     * they only reach C columns that the sweep computes into its tile and drops.
     */
    private static void packColumns(float[] src, int at, int ld, int nr, int kc, float[] panel) {
        for (int q = 0; q < kc; q++) System.arraycopy(src, at + q * ld, panel, q * NR, nr);
    }

    /**
     * out[to + y OW + x] = c[from + y Wq + x] + bias (with relu clamped at 0) for the OW valid
     * columns of each Wq-wide row, in whole vectors. A row's last part vector is done as the whole
     * vector ending at OW, overlapping the one before and storing the same values there; it is
     * loaded before the row is written, because c may be out itself (the 1x1 route adds bias and
     * relu in place) and must not get the bias twice. Rows narrower than a vector use masks. The
     * masked tail this replaces took as many samples as the rest of the row on a 5x5 1->32
     * 28x28 layer (AVX2 masked stores are slow): that forward went from ~64-72 to ~71-79
     * GFLOP/s (b128, jars alternating 3 times). The scalar loop before that cost ~1 cycle per
     * output, as long as that layer's GEMM.
     */
    private static void keepValidColumns(float[] c, int from, int wp, float[] out, int to, int oh, int ow, float bias, boolean relu) {
        FloatVector b = FloatVector.broadcast(F, bias), floor = FloatVector.broadcast(F, relu ? 0f : Float.NEGATIVE_INFINITY);
        int full = ow / L * L;
        if (ow < L) {
            VectorMask<Float> valid = F.indexInRange(0, ow);
            for (int y = 0; y < oh; y++, from += wp, to += ow)
                FloatVector.fromArray(F, c, from, valid).add(b).max(floor).intoArray(out, to, valid);
            return;
        }
        for (int y = 0; y < oh; y++, from += wp, to += ow) {
            FloatVector last = FloatVector.fromArray(F, c, from + ow - L).add(b).max(floor);
            for (int x = 0; x < full; x += L) FloatVector.fromArray(F, c, from + x).add(b).max(floor).intoArray(out, to + x);
            if (full < ow) last.intoArray(out, to + ow - L);
        }
    }

    /**
     * The B micro-panel of the NR columns at p[at..]: row q is P's NR floats at at + shift[pc + q],
     * copied into panel (kc x NR, in L1) for {@link GemmTiles#sweep}. B was read where it lies, through
     * the shift table, by a kernel of its own: that loop paid a table load and two range checks
     * per k step, and C2 kept the table in a vector register, moving it back each step. The copy
     * is 2 vector loads per k step against the sweep's 2 per k step for each of the row blocks.
     * Measured (one thread, b128, jars alternating 3 times, GFLOP/s forward / forward+backward):
     * 5x5 1->32 28x28 ~36 / 29 -> ~43 / 31; 3x3 48->96 7x7 ~45 / 41 -> 59 / 48; 3x3 stride-2
     * 32->64 28x28 ~48 / 44 -> ~62 / 49; the other conv rows unchanged. Two threads, among the
     * other ops (fuse bench): 5x5 forward 63 -> 77; train step best 389/407/442 -> 392/447/446
     * img/s. (A gather tried before Gemm's kernel took one tile per call measured slower among
     * other ops: that kernel then reloaded B's array and offset from the stack every k step.)
     */
    private static void gatherPanel(float[] p, int at, int[] shift, int pc, int kc, float[] panel) {
        for (int q = 0; q < kc; q++) {
            int from = at + shift[pc + q];
            FloatVector.fromArray(F, p, from).intoArray(panel, q * NR);
            FloatVector.fromArray(F, p, from + L).intoArray(panel, q * NR + L);
        }
    }
}
