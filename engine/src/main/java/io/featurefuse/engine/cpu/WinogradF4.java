package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;

/**
 * conv2d 3x3 forward by Winograd's F(4x4, 3x3) (Lavin and Gray 2016): each 4x4 block of outputs
 * comes from a 6x6 input tile d as Y = A^T [(G g G^T) * (B^T d B)] A, 36 multiply-adds over
 * channels per 16 outputs where {@link WinogradConv}'s F(2x2, 3x3) takes 64 and the direct sum
 * 144. Its transform points are 0, +-1, +-2, so float32 error grows: on 32->32 28x28 (weights
 * ~0.1, inputs ~1) the largest error is 4e-6 of the largest output against F(2x2)'s 3e-7, rms
 * 2e-6 against 3e-7 (Conv2dTest holds both to the same tolerance against the float64 loops). It pays where the
 * tiles are mostly real outputs: 28x28 maps (49 of 56 tiles real), not 14x14 (16 x 24 tile
 * outputs for 196), where {@link #better} leaves F(2x2) in charge.
 *
 * <p>The layout is WinogradConv's with a stride of 4: tile (ty, tx) starts at padded input row
 * 4 ty, column 4 tx; the padded plane is split into 16 phase planes (row % 4, column % 4), TW =
 * tilesX + 1 wide, so element (i, j) of tile q = ty TW + tx lies in plane (i % 4, j % 4) at q +
 * (i / 4) TW + j / 4, linear in q. Tasks, panels, the GEMM per xi and the output pass follow
 * WinogradConv.forward; see there for why. That driver loop is repeated here, not shared through
 * an interface over the two tile sizes: shared, its compiled code served both, and 3x3 64->64
 * 14x14 (F(2x2)) forward ran ~4% slower (one thread, 4 alternations: 108-115 against 116-118 GFLOP/s).
 */
final class WinogradF4 {
    /** -Dfeaturefuse.conv.winograd4=false keeps every Winograd layer on F(2x2, 3x3) (A/B measurements, tests). */
    private static final boolean ENABLED = !"false".equals(System.getProperty("featurefuse.conv.winograd4"));
    private static final int NR = Gemm.NR, XI = 36, SKEW = WinogradConv.SKEW, LS = Simd.LINE_START;

    private WinogradF4() {}

    /**
     * For a layer WinogradConv takes: true when F(4x4) needs at most 3/4 of F(2x2)'s multiplies
     * counting the junk tiles each computes (per-tile transform work is about the same per
     * output). 28x28: 36 x 56 against 16 x 216 (0.58); 14x14: 36 x 24 against 16 x 56 (0.96).
     */
    static boolean better(ConvGeom g) {
        return ENABLED && 4L * XI * Tiles.of(g).perImage() <= 3L * 16 * WinogradConv.Tiles.of(g).perImage();
    }

    /** Tiles per image (cols, junk column included; perImage, that rounded up to whole vectors), output and phase plane strides (as WinogradConv.Tiles). */
    record Tiles(int tilesY, int tilesX, int tw, int cols, int perImage, int outStride, int planeStride) {
        static Tiles of(ConvGeom g) {
            int tilesY = (g.oh() + 3) / 4, tilesX = (g.ow() + 3) / 4, tw = tilesX + 1, cols = tilesY * tw;
            int perImage = WinogradConv.roundUp(cols, L);
            // reads reach q + TW + 1 for q < perImage, and q + L + TW for the last vector of a piece ending at cols;
            // phasePlanes writes (tilesY + 1) rows of TW and up to L + 1 past a row
            return new Tiles(tilesY, tilesX, tw, cols, perImage, WinogradConv.outStride(cols), Math.max(perImage + tw + 1, (tilesY + 1) * tw + 4 * L));
        }
    }

    /** Per thread: phase planes, V, M, output phase planes, a partial tile, a transform buffer. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(
            () -> new float[][] {new float[0], new float[0], new float[0], new float[0], new float[Gemm.MR * NR], new float[XI * L]});

    /** The weights as forward reads them: U = G g G^T, packed (see packedWeights). */
    static float[] packed(float[] w, int wOff, ConvGeom g) {
        int kc = Gemm.kBlock(g.cg());
        return PackCache.get("winograd-f4", w, wOff, g.k() * g.crs(), () -> packedWeights(w, wOff, g, kc), g.k(), g.cg(), g.groups(), kc);
    }

    // in: (N,C,H,W) at inOff, u: the weights packed by packed(), bias: (K) or null; out: (N,K,OH,OW), images [first, end) overwritten
    static void forward(float[] out, float[] in, int inOff, float[] u, float[] bias, int bOff, ConvGeom g, boolean relu,
                        float[] res, int resOff, Conv2dKernels.Written written, int first, int end) {
        Tiles t = Tiles.of(g);
        int groups = g.groups(), cg = g.cg(), kg = g.kg(), kc = Gemm.kBlock(cg);
        int rows = WinogradConv.roundUp(kg, Gemm.MR), uXi = rows * cg, uGroup = XI * uXi;
        int vStride = cg * NR + SKEW, mStride = kg * NR + SKEW;
        int images = WinogradConv.imagesPerTask(g, t.cols()), tasks = (end - first + images - 1) / images;
        Parallel.forEach(tasks * groups, Conv2dKernels.thenWritten(task -> {
            int n0 = first + task / groups * images, grp = task % groups, count = Math.min(images, end - n0);
            int plane16 = 16 * t.planeStride(), cols = t.cols(), os = t.outStride(), total = count * cols;
            float[][] scratch = SCRATCH.get();
            // the four buffers in one array, each from a cache line (see LineArrays)
            int vAt = LineArrays.after(LS, count * cg * plane16), mAt = LineArrays.after(vAt, XI * vStride), oAt = LineArrays.after(mAt, XI * mStride);
            float[] planes = LineArrays.grow(scratch, 0, LineArrays.after(oAt, count * kg * 16 * os + 4 * L)), v = planes, m = planes, o = planes;
            float[] tile = scratch[4], tb = scratch[5];
            for (int i = 0; i < count; i++)
                for (int c = 0; c < cg; c++)
                    phasePlanes(in, inOff + ((n0 + i) * g.c() + grp * cg + c) * g.h() * g.w(), g, t, planes, LS + (i * cg + c) * plane16);
            // pieces of cols tiles an image, their last vectors stored whole, channels outermost (see WinogradConv.forward)
            for (int col = 0; col < total; col += NR) {
                int width = Math.min(NR, total - col);
                for (int c = 0; c < cg; c++)
                    for (int j = 0; j < width; ) {
                        int i = (col + j) / cols, q = (col + j) % cols, piece = Math.min(width - j, cols - q);
                        int fill = j + piece == width ? NR - j : piece;
                        transformInput(planes, LS + (i * cg + c) * plane16, t, q, piece, fill, v, vAt + c * NR + j, vStride, tb);
                        j += piece;
                    }
                for (int xi = 0; xi < XI; xi++)
                    for (int pc = 0; pc < cg; pc += kc)
                        GemmTiles.sweep(u, grp * uGroup + xi * uXi + pc * rows, 0, kg, v, vAt + xi * vStride + pc * NR, Math.min(kc, cg - pc),
                                m, mAt + xi * mStride, NR, NR, pc > 0, tile);
                for (int j = 0; j < width; ) {
                    int i = (col + j) / cols, q = (col + j) % cols, piece = Math.min(width - j, cols - q);
                    for (int k = 0; k < kg; k++) transformOutput(m, mAt + k * NR + j, mStride, piece, o, oAt + (i * kg + k) * 16 * os + q, os, tb);
                    j += piece;
                }
            }
            for (int i = 0; i < count; i++)
                for (int k = 0; k < kg; k++) {
                    float b = bias == null ? 0f : bias[bOff + grp * kg + k];
                    int to = ((n0 + i) * g.k() + grp * kg + k) * g.ohw();
                    // out as its own residual: a row's last vectors store past it into the next row, whose residual
                    // is still to be read, so the plane is made in scratch first
                    boolean inPlace = res == out;
                    float[] dst = inPlace ? WinogradConv.planeScratch(g.ohw()) : out;
                    interleave(o, oAt + (i * kg + k) * 16 * os, t, dst, inPlace ? 0 : to, g, b, relu, res, resOff + to, tb);
                    if (inPlace) System.arraycopy(dst, 0, out, to, g.ohw());
                }
        }, written, g, images, first));
    }

    /** The rows of G (6 x 3): U = G g G^T. */
    private static final double[][] G = {
            {1 / 4.0, 0, 0}, {-1 / 6.0, -1 / 6.0, -1 / 6.0}, {-1 / 6.0, 1 / 6.0, -1 / 6.0},
            {1 / 24.0, 1 / 12.0, 1 / 6.0}, {1 / 24.0, -1 / 12.0, 1 / 6.0}, {0, 0, 1}};

    /** U = G g G^T for each (k, c) of each group in float64, in the layout Gemm.sweep reads (as WinogradConv.packedWeights). */
    private static float[] packedWeights(float[] w, int wOff, ConvGeom g, int kc) {
        int kg = g.kg(), cg = g.cg(), mr = Gemm.MR, rows = WinogradConv.roundUp(kg, mr);
        float[] ap = new float[g.groups() * XI * rows * cg];
        WinogradConv.forEachOutputChannel(g, (grp, k) -> {
            double[] gg = new double[18];
            for (int c = 0; c < cg; c++) {
                int src = wOff + ((grp * kg + k) * cg + c) * 9;
                for (int i = 0; i < 6; i++) // G g: 6 x 3
                    for (int j = 0; j < 3; j++) gg[3 * i + j] = G[i][0] * w[src + j] + G[i][1] * w[src + 3 + j] + G[i][2] * w[src + 6 + j];
                int pc = c / kc * kc, kcb = Math.min(kc, cg - pc);
                int within = pc * rows + k / mr * mr * kcb + (c - pc) * mr + k % mr; // see PackedA
                for (int i = 0; i < 6; i++) // (G g) G^T
                    for (int j = 0; j < 6; j++) {
                        double s = G[j][0] * gg[3 * i] + G[j][1] * gg[3 * i + 1] + G[j][2] * gg[3 * i + 2];
                        ap[(grp * XI + 6 * i + j) * rows * cg + within] = (float) s;
                    }
            }
        });
        return ap;
    }

    /**
     * The 16 phase planes of one zero-padded input plane, at p0: planes[p0 + (4a + b) stride + y
     * TW + x] = padded[4y + a][4x + b]. Each input row goes 4 L elements at a time, split in two
     * rounds of unzipping (even/odd elements, then even/odd of those) into the elements x = 4 i
     * + k, k = 0..3, one vector each, which land in column phase (k + pw) % 4 from column (x0 + k
     * + pw) / 4. A row's last block has its lanes past W zeroed, and the zeros it writes past the
     * row land on padding or on the plane's later rows, written after it (rows go in order). A
     * block that would read past the input array goes element by element. (Copying each row into
     * a zero-padded buffer first, so the phases did not depend on pw, took 14% of a 32->32 28x28
     * forward.) A row of at most 2 L elements (28 with 512-bit vectors) is two vectors, and each
     * phase one two-vector pick from them (QUARTER_k), not two rounds of unzips of four vectors.
     * With that, and clearing only what is read: 32 channels of 28x28 (planes in L2, one thread)
     * 13.2 -> 7.5-8.4 us an image; the 32->32 28x28 forward (b128, 2 threads), inputs in cache,
     * 5.9 -> 5.2-5.5 ms median; inputs from memory about the same (~6.2-6.5: there the first reads
     * of each plane are what it waits on). Train step, jars alternating: best 821/832 -> 832/816,
     * median 746/784 -> 760/779 img/s (noise). Clearing no plane at all, each plane row stored
     * whole or as zeros instead, measured no faster (8.3-9.0 us): the stores, to L2, are the cost.
     */
    /**
     * Lane i: element 4 i + k of a pair of vectors (a.rearrange(QUARTER_k, b)), for the lanes whose
     * element lies in the pair (i < L / 2); the others wrap around, and are masked off.
     */
    private static final VectorShuffle<Float> QUARTER_0 = quarter(0), QUARTER_1 = quarter(1), QUARTER_2 = quarter(2), QUARTER_3 = quarter(3);

    private static VectorShuffle<Float> quarter(int k) {
        return VectorShuffle.fromOp(F, i -> (4 * i + k) & (2 * L - 1));
    }

    static void phasePlanes(float[] in, int src, ConvGeom g, Tiles t, float[] planes, int p0) {
        int stride = t.planeStride(), tw = t.tw(), w = g.w(), pw = g.pw();
        // cleared: what transformInput reads of each plane for tiles below perImage (up to perImage + TW), not the room past
        // it for the rows' stores; lanes a piece's last vector reads past that belong to tiles past cols, dropped with them
        for (int p = 0, reach = t.perImage() + tw + 1; p < 16; p++) java.util.Arrays.fill(planes, p0 + p * stride, p0 + p * stride + reach, 0f);
        int lastX = (w - 1) / (4 * L) * 4 * L, left = w - lastX;
        VectorMask<Float> m0 = F.indexInRange(0, (left + 3) / 4), m1 = F.indexInRange(0, (left + 2) / 4);
        VectorMask<Float> m2 = F.indexInRange(0, (left + 1) / 4), m3 = F.indexInRange(0, left / 4);
        FloatVector zero = FloatVector.zero(F);
        int at0 = (pw & 3) * stride + (pw >> 2), at1 = ((1 + pw) & 3) * stride + ((1 + pw) >> 2);
        int at2 = ((2 + pw) & 3) * stride + ((2 + pw) >> 2), at3 = ((3 + pw) & 3) * stride + ((3 + pw) >> 2);
        boolean narrow = w <= 2 * L;
        for (int y = 0; y < g.h(); y++) {
            int pr = y + g.ph(), base = p0 + (pr & 3) * 4 * stride + (pr >> 2) * tw, s = src + y * w;
            if (narrow && s + 2 * L <= in.length) { // the row is two vectors: one two-vector pick per column phase
                FloatVector a = ld(in, s), b = ld(in, s + L);
                zero.blend(a.rearrange(QUARTER_0, b), m0).intoArray(planes, base + at0);
                zero.blend(a.rearrange(QUARTER_1, b), m1).intoArray(planes, base + at1);
                zero.blend(a.rearrange(QUARTER_2, b), m2).intoArray(planes, base + at2);
                zero.blend(a.rearrange(QUARTER_3, b), m3).intoArray(planes, base + at3);
                continue;
            }
            for (int x = 0; x < w; x += 4 * L) {
                if (s + x + 4 * L > in.length) {
                    for (int e = x; e < w; e++) planes[base + ((e + pw) & 3) * stride + ((e + pw) >> 2)] = in[s + e];
                    break;
                }
                FloatVector a = ld(in, s + x), b = ld(in, s + x + L), c = ld(in, s + x + 2 * L), d = ld(in, s + x + 3 * L);
                FloatVector e1 = a.rearrange(Simd.UNZIP_EVEN, b), o1 = a.rearrange(Simd.UNZIP_ODD, b);
                FloatVector e2 = c.rearrange(Simd.UNZIP_EVEN, d), o2 = c.rearrange(Simd.UNZIP_ODD, d);
                FloatVector r0 = e1.rearrange(Simd.UNZIP_EVEN, e2), r1 = o1.rearrange(Simd.UNZIP_EVEN, o2);
                FloatVector r2 = e1.rearrange(Simd.UNZIP_ODD, e2), r3 = o1.rearrange(Simd.UNZIP_ODD, o2);
                if (x == lastX) {
                    r0 = zero.blend(r0, m0);
                    r1 = zero.blend(r1, m1);
                    r2 = zero.blend(r2, m2);
                    r3 = zero.blend(r3, m3);
                }
                int col = base + x / 4;
                r0.intoArray(planes, col + at0);
                r1.intoArray(planes, col + at1);
                r2.intoArray(planes, col + at2);
                r3.intoArray(planes, col + at3);
            }
        }
    }

    /**
     * V = B^T d B for tiles [col, col + width) of one channel (phase planes at p0), into row v0
     * of each packed V_xi panel, the last vector stored whole; columns [width, fill) then zeroed. B^T rows: [4 0 -5 0 1 0],
     * [0 -4 -4 1 1 0], [0 4 -4 -1 1 0], [0 -2 -1 2 1 0], [0 2 -1 -2 1 0], [0 4 0 -5 0 1]. As in
     * WinogradConv, two loops through the L1 buffer tb (C2's inlining budget).
     */
    static void transformInput(float[] p, int p0, Tiles t, int col, int width, int fill, float[] v, int v0, int vStride, float[] tb) {
        int s = t.planeStride(), tw = t.tw();
        for (int j = 0; j < width; j += L) {
            for (int cj = 0; cj < 6; cj++) { // tb = B^T d, a column of d at a time
                int at = p0 + (cj & 3) * s + col + j + (cj >> 2);
                bt(p, at, at + 4 * s, at + 8 * s, at + 12 * s, at + tw, at + 4 * s + tw, tb, cj * L, 6 * L);
            }
            for (int i = 0; i < 6; i++) { // V = tb B, a row at a time
                int r = 6 * i * L;
                bt(tb, r, r + L, r + 2 * L, r + 3 * L, r + 4 * L, r + 5 * L, v, v0 + j + 6 * i * vStride, vStride);
            }
        }
        for (int j = width; j < fill; j += L)
            for (int xi = 0; xi < XI; xi++) FloatVector.zero(F).intoArray(v, v0 + j + xi * vStride);
    }

    /**
     * B^T applied to the six vectors at src[i0] .. src[i5], the six results to dst[at], dst[at + step], ...
     * It loads its operands itself rather than taking vectors: once C2 had compiled it on its own
     * (512-bit code, past InlineSmallCode) it stopped inlining it, and every vector passed in was
     * boxed: 32->32 28x28 forward ran at a third of its speed in some JVM runs.
     */
    private static void bt(float[] src, int i0, int i1, int i2, int i3, int i4, int i5, float[] dst, int at, int step) {
        FloatVector d0 = ld(src, i0), d1 = ld(src, i1), d2 = ld(src, i2), d3 = ld(src, i3), d4 = ld(src, i4), d5 = ld(src, i5);
        FloatVector four = FloatVector.broadcast(F, 4f), two = FloatVector.broadcast(F, 2f), five = FloatVector.broadcast(F, -5f);
        FloatVector s14 = d4.sub(d2), s23 = d3.sub(d1);
        d0.sub(d2).fma(four, s14).intoArray(dst, at);                                  // 4 d0 - 5 d2 + d4 = 4 (d0 - d2) + (d4 - d2)
        d1.add(d2).fma(four.neg(), d3.add(d4)).intoArray(dst, at + step);               // -4 (d1 + d2) + d3 + d4
        d1.sub(d2).fma(four, d4.sub(d3)).intoArray(dst, at + 2 * step);                 // 4 (d1 - d2) + d4 - d3
        s23.fma(two, s14).intoArray(dst, at + 3 * step);                               // 2 (d3 - d1) + d4 - d2
        s23.fma(two.neg(), s14).intoArray(dst, at + 4 * step);                          // 2 (d1 - d3) + d4 - d2
        d3.fma(five, d1.fma(four, d5)).intoArray(dst, at + 5 * step);                   // 4 d1 - 5 d3 + d5
    }

    static FloatVector ld(float[] a, int i) {
        return FloatVector.fromArray(F, a, i);
    }

    /**
     * Y = A^T M A for the width tiles of one output channel (M_xi at m0 + xi mStride), into the
     * 16 output phase planes o[o0 + (4a + b) os], which hold Y[a][b] of tile q at q; the last
     * vector stored whole.
     * A^T rows: [1 1 1 1 1 0], [0 1 -1 2 -2 0], [0 1 1 4 4 0], [0 1 -1 8 -8 1]. Columns first into tb (4 x 6 vectors), then rows.
     */
    private static void transformOutput(float[] m, int m0, int mStride, int width, float[] o, int o0, int os, float[] tb) {
        for (int j = 0; j < width; j += L) {
            for (int c = 0; c < 6; c++) {
                int at = m0 + j + c * mStride;
                at(m, at, at + 6 * mStride, at + 12 * mStride, at + 18 * mStride, at + 24 * mStride, at + 30 * mStride, tb, c * L, 6 * L);
            }
            for (int r = 0; r < 4; r++) {
                int q = 6 * r * L;
                at(tb, q, q + L, q + 2 * L, q + 3 * L, q + 4 * L, q + 5 * L, o, o0 + 4 * r * os + j, os);
            }
        }
    }

    /** A^T applied to the six vectors at src[i0] .. src[i5], the four results to dst[at], dst[at + step], ... (loads its operands: see bt). */
    private static void at(float[] src, int i0, int i1, int i2, int i3, int i4, int i5, float[] dst, int at, int step) {
        FloatVector x0 = ld(src, i0), x1 = ld(src, i1), x2 = ld(src, i2), x3 = ld(src, i3), x4 = ld(src, i4), x5 = ld(src, i5);
        FloatVector p12 = x1.add(x2), m12 = x1.sub(x2), p34 = x3.add(x4), m34 = x3.sub(x4);
        x0.add(p12).add(p34).intoArray(dst, at);
        m34.fma(FloatVector.broadcast(F, 2f), m12).intoArray(dst, at + step);
        p34.fma(FloatVector.broadcast(F, 4f), p12).intoArray(dst, at + 2 * step);
        m34.fma(FloatVector.broadcast(F, 8f), m12).add(x5).intoArray(dst, at + 3 * step);
    }

    /**
     * Output plane at out[to] from its 16 phase planes at o[o0], plus the bias (and the residual
     * plane at res[ro] when res is given), with relu clamped at 0: per output row, the four
     * column phases of L tiles zipped into 4 L outputs (two rounds of zips). A row's last block
     * is stored whole; what it writes past OW lies in later rows, which overwrite it; a block that
     * would reach past the plane goes through buf (4 L floats).
     */
    private static void interleave(float[] o, int o0, Tiles t, float[] out, int to, ConvGeom g, float bias, boolean relu, float[] res, int ro,
                                   float[] buf) {
        FloatVector b = FloatVector.broadcast(F, bias), floor = FloatVector.broadcast(F, relu ? 0f : Float.NEGATIVE_INFINITY);
        int ow = g.ow(), os = t.outStride(), end = to + g.ohw();
        for (int oy = 0; oy < g.oh(); oy++) {
            int ph = o0 + (oy & 3) * 4 * os + (oy >> 2) * t.tw(), dst = to + oy * ow;
            for (int tx = 0; 4 * tx < ow; tx += L) {
                FloatVector p0 = ld(o, ph + tx), p1 = ld(o, ph + os + tx), p2 = ld(o, ph + 2 * os + tx), p3 = ld(o, ph + 3 * os + tx);
                FloatVector aLo = p0.rearrange(Simd.ZIP_LO, p2), bLo = p1.rearrange(Simd.ZIP_LO, p3);
                FloatVector y0 = aLo.rearrange(Simd.ZIP_LO, bLo).add(b), y1 = aLo.rearrange(Simd.ZIP_HI, bLo).add(b);
                int at = dst + 4 * tx;
                if (ow - 4 * tx <= 2 * L) { // the row ends within y0, y1 (28 wide, L = 16): y2, y3 would be dropped
                    if (at + 2 * L <= end) {
                        if (res != null) {
                            y0 = y0.add(FloatVector.fromArray(F, res, ro + at - to));
                            y1 = y1.add(FloatVector.fromArray(F, res, ro + at - to + L));
                        }
                        y0.max(floor).intoArray(out, at);
                        y1.max(floor).intoArray(out, at + L);
                    } else {
                        y0.intoArray(buf, 0);
                        y1.intoArray(buf, L);
                        Conv2dKernels.finish(buf, out, at, end - at, res, ro + at - to, relu);
                    }
                    continue;
                }
                FloatVector aHi = p0.rearrange(Simd.ZIP_HI, p2), bHi = p1.rearrange(Simd.ZIP_HI, p3);
                FloatVector y2 = aHi.rearrange(Simd.ZIP_LO, bHi).add(b), y3 = aHi.rearrange(Simd.ZIP_HI, bHi).add(b);
                if (at + 4 * L <= end) {
                    if (res != null) {
                        int r = ro + at - to;
                        y0 = y0.add(FloatVector.fromArray(F, res, r));
                        y1 = y1.add(FloatVector.fromArray(F, res, r + L));
                        y2 = y2.add(FloatVector.fromArray(F, res, r + 2 * L));
                        y3 = y3.add(FloatVector.fromArray(F, res, r + 3 * L));
                    }
                    y0.max(floor).intoArray(out, at);
                    y1.max(floor).intoArray(out, at + L);
                    y2.max(floor).intoArray(out, at + 2 * L);
                    y3.max(floor).intoArray(out, at + 3 * L);
                } else {
                    y0.intoArray(buf, 0);
                    y1.intoArray(buf, L);
                    y2.intoArray(buf, 2 * L);
                    y3.intoArray(buf, 3 * L);
                    Conv2dKernels.finish(buf, out, at, end - at, res, ro + at - to, relu);
                }
            }
        }
    }
}
