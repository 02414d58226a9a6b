package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * conv2d 3x3, stride 1, dilation 1, by Winograd's minimal filtering F(2x2, 3x3) (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of outputs
 * comes from a 4x4 input tile d as Y = A^T [(G g G^T) * (B^T d B)] A, so the multiply-adds
 * over channels are 16 per 4 outputs instead of 36: 16 GEMMs M_xi (K x tiles) = U_xi (K x C)
 * . V_xi (C x tiles), one per position xi of the 4x4 transformed tile. The transforms' constants
 * are 0, +-1 and 1/2, so float32 error stays within a few ulps of the direct sum's.
 *
 * <p>Layout: a tile (ty, tx) starts at padded input row 2 ty, column 2 tx. The padded input
 * plane is split into four parity planes (even/odd rows x even/odd columns), TW = tilesX + 1
 * wide; tile q = ty TW + tx then reads element (i, j) of its 4x4 tile at parity plane
 * (i % 2, j % 2), offset q + (i / 2) TW + j / 2: linear in q, so L consecutive tiles are one
 * vector load. The last column of tiles (tx = tilesX) is computed and dropped.
 *
 * <p>Each task (a group of one or a few images, see imagesPerTask) walks its tiles NR at a
 * time: it transforms them into V (16 x C x NR, one packed B panel per xi), runs the GEMM
 * micro-kernel down the prepacked U_xi into M
 * (16 x K x NR), and transforms M into four output parity planes; the planes are interleaved
 * into the output at the end. V and M stay in L1/L2. The first version transformed all of a
 * task's tiles, then ran 16 whole GEMMs: V and M then went through L3 and the transforms cost
 * more than the GEMMs (32->32 28x28 b128 ran slower than the direct implicit GEMM).
 * Each output's sums run in a fixed order, so results do not depend on the thread count.
 */
final class WinogradConv {
    /** -Dfeaturefuse.conv.winograd=false turns this path off (for A/B measurements and tests of the other paths). */
    private static final boolean ENABLED = !"false".equals(System.getProperty("featurefuse.conv.winograd"));
    /** Below this many input or output channels per group the transforms cost more than the multiplies saved. */
    static final int MIN_CHANNELS = 16;
    /**
     * Floats between consecutive xi blocks of V and M beyond their size: the transforms walk 16
     * streams, one per xi, and 64 channels x NR tiles is 4 KB, so unskewed they all met in one L1
     * set. Measured (b128, 2 threads, same jar with and without, 3 alternations, GFLOP/s of the
     * direct count): forward 64->64 14x14 ~100-116 -> ~107-150, 32->32 28x28 ~64-113 -> ~108-133.
     */
    static final int SKEW = 16, LS = Simd.LINE_START;
    /** Tiles per step: one packed B panel of the GEMM. */
    private static final int NR = Gemm.NR;

    private WinogradConv() {}

    /**
     * 3x3, stride 1, dilation 1, 16+ channels in and out per group, and at least 2/3 of the
     * outputs computed real: the dropped tile column, the padding to whole vectors and a half
     * last tile cost as much as real outputs. Measured, 2 threads, batch 128, GFLOP/s of the
     * direct count (implicit GEMM -> Winograd): 64->64 14x14 (87% real) 133 -> 158, 32->48
     * 14x14 124 -> 145, 32->32 28x28 (91%) 128 -> 141; 48->96 7x7 (51% real) 116 -> 103.
     *
     * <p>Measured and not kept: small maps run several images side by side, copied a row at a time
     * into one wide image in scratch per chunk, the outputs copied back. With one zero column between
     * images, four 14x14 maps take 64 F(4x4) tiles for 64 real (32 each alone) and four 7x7 maps run
     * F(2x2): harness (b128, 2 threads, wide layer without the copies) forward 64->64 14x14 5.6 -> 4.0
     * ms, 32->48 2.6 -> 1.7, 48->96 7x7 2.6 -> 1.9; input and weight gradients by chunks 13.0 -> 10.8,
     * 7.2 -> 5.6, 6.7 -> 5.4. But an image's bits then depend on its place (its tiles start elsewhere
     * and read its neighbour's columns), so inference by chunks no longer gave the batch's bits. Images
     * a whole number of tiles apart with room for a tile's reach (14x14: every 20 columns) keep each
     * image's bits as alone, and then nothing was left: inference b256, jar alternating 3 times with
     * it off, median 2997/3119/3394 -> 2950/3059/3244 img/s; the copies cost ~0.35 + 0.45 ms a 64x14x14
     * layer on one thread. With the gradients wide too the train step lost (medians 773-785 ->
     * 712-753 img/s). Building the phase planes straight from the images, and writing the outputs
     * straight from the output planes, would save the copies.
     */
    static boolean applies(ConvGeom g) {
        if (!ENABLED || g.r() != 3 || g.s() != 3 || g.sh() != 1 || g.sw() != 1 || g.dh() != 1 || g.dw() != 1) return false;
        if (g.cg() < MIN_CHANNELS || g.kg() < MIN_CHANNELS) return false;
        return 3L * g.oh() * g.ow() >= 2L * 4 * Tiles.of(g).perImage();
    }

    /**
     * Sizes shared by every task of one call: tiles per image (cols = tilesY TW, junk column
     * included: the columns an image takes in the forward's GEMM; perImage, that rounded up to
     * whole vectors), the stride of a task's output parity planes, and the parity plane stride.
     */
    record Tiles(int tilesY, int tilesX, int tw, int cols, int perImage, int outStride, int planeStride) {
        static Tiles of(ConvGeom g) {
            int tilesY = (g.oh() + 1) / 2, tilesX = (g.ow() + 1) / 2, tw = tilesX + 1, cols = tilesY * tw;
            int perImage = roundUp(cols, L);
            // reads reach q + TW + 1 for q < perImage, and q + L + TW for the last vector of a piece ending at
            // cols; the parity planes themselves are (tilesY + 1) x TW, and parityPlanes writes zeros up to
            // 2 L past a plane's last row
            return new Tiles(tilesY, tilesX, tw, cols, perImage, WinogradConv.outStride(cols), Math.max(perImage + tw + 1, (tilesY + 1) * tw + 2 * L));
        }
    }

    /**
     * The stride of an image's output planes in a forward task: a piece of tiles that ends off a
     * vector (cols not a multiple of L) has its last vector stored whole, up to L - 1 tiles past
     * cols, which must stay in the plane.
     */
    static int outStride(int cols) {
        return cols % L == 0 ? cols : roundUp(cols, L) + L;
    }

    static int roundUp(int x, int m) {
        return (x + m - 1) / m * m;
    }

    /** Per thread: parity planes, V, M, output parity planes, a partial tile, B^T d, an output plane (planeScratch). */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(
            () -> new float[][] {new float[0], new float[0], new float[0], new float[0], new float[Gemm.MR * NR], new float[16 * L], new float[0]});

    /** This thread's room for one output plane of size floats (F(2x2) and F(4x4) both use it). */
    static float[] planeScratch(int size) {
        return Parallel.grow(SCRATCH.get(), 6, size);
    }

    // in: (N,C,H,W) at inOff, w: (K,C/g,3,3) at wOff, bias: (K) or null; out: (N,K,OH,OW), overwritten;
    // res: null, or (N,K,OH,OW) at resOff added before the relu (see Conv2dKernels.forwardAddRelu); it may be
    // out itself (resOff 0: out += the convolution, Conv2dKernels.backwardData adding)
    // written: null, or told as each task's images are done (see Conv2dKernels.Written)
    static void forward(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g, boolean relu,
                        float[] res, int resOff, Conv2dKernels.Written written) {
        forwardImages(out, in, inOff, packed(w, wOff, g), bias, bOff, g, relu, res, resOff, written, 0, g.n());
    }

    /** The weights as the forward of g reads them, transformed (F(4x4, 3x3) where WinogradF4.better(g)): for {@link #forwardImages}. */
    static float[] packed(float[] w, int wOff, ConvGeom g) {
        if (WinogradF4.better(g)) return WinogradF4.packed(w, wOff, g);
        int kc = Gemm.kBlock(g.cg());
        return PackCache.get("winograd-f2", w, wOff, g.k() * g.crs(), () -> packedWeights(w, wOff, g, kc), g.k(), g.cg(), g.groups(), kc);
    }

    /**
     * forward for images [first, end) alone, the weights u packed by {@link #packed}: parallel over those images' tasks,
     * or on the calling thread where the pool is busy (a task of Conv2dKernels.backwardOfChunks).
     */
    static void forwardImages(float[] out, float[] in, int inOff, float[] u, float[] bias, int bOff, ConvGeom g, boolean relu, float[] res,
                              int resOff, Conv2dKernels.Written written, int first, int end) {
        if (WinogradF4.better(g)) WinogradF4.forward(out, in, inOff, u, bias, bOff, g, relu, res, resOff, written, first, end);
        else forward(out, in, inOff, u, bias, bOff, g, relu, res, resOff, written, first, end);
    }

    // as above, u packed by packed(), images [first, end) only
    static void forward(float[] out, float[] in, int inOff, float[] u, float[] bias, int bOff, ConvGeom g, boolean relu,
                        float[] res, int resOff, Conv2dKernels.Written written, int first, int end) {
        Tiles t = Tiles.of(g);
        int groups = g.groups(), cg = g.cg(), kg = g.kg(), kc = Gemm.kBlock(cg);
        int rows = roundUp(kg, Gemm.MR), uXi = rows * cg, uGroup = 16 * uXi; // U's layout, see packedWeights
        int vStride = cg * NR + SKEW, mStride = kg * NR + SKEW;
        int images = imagesPerTask(g, t.cols()), tasks = (end - first + images - 1) / images;
        Parallel.forEach(tasks * groups, Conv2dKernels.thenWritten(task -> {
            int n0 = first + task / groups * images, grp = task % groups, count = Math.min(images, end - n0);
            int plane4 = 4 * t.planeStride(), cols = t.cols(), os = t.outStride(), total = count * cols;
            float[][] scratch = SCRATCH.get();
            // the four buffers in one array, each from a cache line (see LineArrays)
            int vAt = LineArrays.after(LS, count * cg * plane4), mAt = LineArrays.after(vAt, 16 * vStride), oAt = LineArrays.after(mAt, 16 * mStride);
            float[] planes = LineArrays.grow(scratch, 0, LineArrays.after(oAt, count * kg * 4 * os + L)), v = planes, m = planes, o = planes;
            float[] tile = scratch[4], tb = scratch[5];
            for (int i = 0; i < count; i++)
                for (int c = 0; c < cg; c++)
                    parityPlanes(in, inOff + ((n0 + i) * g.c() + grp * cg + c) * g.h() * g.w(), g, t, planes, LS + (i * cg + c) * plane4);
            // the task's images' tiles run on as one row of columns, cols each, so a panel may hold the end
            // of one image and the start of the next. A piece's last vector is stored whole: past the piece
            // it lands on the next piece's columns, stored next, or past the panel on the next channel's,
            // stored after (channels outermost), or on the skew after the last channel's (SKEW >= L - 1).
            for (int col = 0; col < total; col += NR) {
                int width = Math.min(NR, total - col);
                for (int c = 0; c < cg; c++)
                    for (int j = 0; j < width; ) {
                        int i = (col + j) / cols, q = (col + j) % cols, piece = Math.min(width - j, cols - q);
                        int fill = j + piece == width ? NR - j : piece;
                        transformInput(planes, LS + (i * cg + c) * plane4, t, q, piece, fill, v, vAt + c * NR + j, vStride, tb);
                        j += piece;
                    }
                for (int xi = 0; xi < 16; xi++)
                    for (int pc = 0; pc < cg; pc += kc)
                        GemmTiles.sweep(u, grp * uGroup + xi * uXi + pc * rows, 0, kg, v, vAt + xi * vStride + pc * NR, Math.min(kc, cg - pc),
                                m, mAt + xi * mStride, NR, NR, pc > 0, tile);
                // a piece's last vector is stored whole here too: past the piece onto tiles stored later, or past cols (see outStride)
                for (int j = 0; j < width; ) {
                    int i = (col + j) / cols, q = (col + j) % cols, piece = Math.min(width - j, cols - q);
                    for (int k = 0; k < kg; k++) transformOutput(m, mAt + k * NR + j, mStride, piece, o, oAt + (i * kg + k) * 4 * os + q, os);
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
                    interleave(o, oAt + (i * kg + k) * 4 * os, t, dst, inPlace ? 0 : to, g, b, relu, res, resOff + to, tb);
                    if (inPlace) System.arraycopy(dst, 0, out, to, g.ohw());
                }
        }, written, g, images, first));
    }

    /**
     * Images a forward task takes: of 1 to MAX_IMAGES, the fewest whose tiles (cols each) leave
     * the least of their last NR-wide panel empty. One 14x14 image has 56 tiles (49 real): with
     * 8-float vectors (NR = 16) alone 3.5 panels, and the GEMM computes the half panel in full;
     * two images make 7 panels. Measured (one thread,
     * b128, jars alternating 3 times, GFLOP/s of the direct count): 3x3 64->64 14x14 forward ~105
     * -> ~115, forward+backward ~96 -> ~100; 32->32 28x28 (216 tiles, 14 panels -> 27 per 2) within
     * noise. With 16-float vectors (NR = 32) an image's tiles were rounded up to 64, two panels,
     * and a task took one image; now 56 a 14x14 image (and a 28x28 one in F(4x4)), four images
     * make 7 panels, and 1/8 of the multiplies and transforms are gone. Measured on Zen 5
     * (AVX-512), 2 threads, b128, jars alternating 4-5 times, best ms: 64->64 14x14 forward
     * 4.12-4.26 -> 3.87-3.94, forward+backward 14.5-14.7 -> 13.7-14.1; 32->32 28x28 forward
     * 4.46-4.66 -> 4.10-4.24, forward+backward 15.5-15.8 -> 14.4-15.1.
     */
    static int imagesPerTask(int cols) {
        int best = 1; // the fewest images of those that compute the fewest columns an image
        for (int images = 2; images <= MAX_IMAGES; images++)
            if ((long) roundUp(images * cols, NR) * best < (long) roundUp(best * cols, NR) * images) best = images;
        return best;
    }

    /**
     * Images a forward task takes at most: its scratch grows with them (four 32-channel 28x28
     * images in F(4x4): input phase planes 1 MB, output phase planes 0.6 MB, V and M 0.3 MB).
     */
    private static final int MAX_IMAGES = 4;

    /**
     * Images a forward task of layer g takes (cols tiles each): imagesPerTask(cols), but no more
     * than leave each thread a task of g's batch (on 16 threads a batch of 16 would otherwise run
     * as 4 tasks). Any count works: a task's last panel, where not full, is zero-filled.
     */
    static int imagesPerTask(ConvGeom g, int cols) {
        return Math.max(1, Math.min(imagesPerTask(cols), g.n() / Parallel.threads()));
    }

    /** Images a forward task of layer g takes (imagesPerTask of the tile size g runs with): the least range forwardImages runs whole. */
    static int imagesPerChunk(ConvGeom g) {
        return imagesPerTask(g, WinogradF4.better(g) ? WinogradF4.Tiles.of(g).cols() : Tiles.of(g).cols());
    }

    /** The body of a loop over a layer's output channels: channel k of group grp. */
    @FunctionalInterface
    interface ChannelBody {
        void run(int grp, int k);
    }

    /**
     * body.run for every output channel of every group, in parallel, a task per block of MR
     * channels (the weight transforms, whose weights change every training step: on the calling
     * thread alone they were ~1% of a step, the pool idle). Not a task per channel: the MR channels
     * of one (c, xi) are adjacent floats of the packed U, so two threads wrote the same cache lines
     * all the time; at 2 threads the F2 and F4 transforms took 3.4 + 4.1 ms a train step against
     * 0.5 + 1.0 on one thread, and 0.4 + 0.65-0.98 a task per block.
     */
    static void forEachOutputChannel(ConvGeom g, ChannelBody body) {
        int kg = g.kg(), mr = Gemm.MR, blocks = roundUp(kg, mr) / mr;
        Parallel.forEach(g.groups() * blocks, task -> {
            int grp = task / blocks, k0 = task % blocks * mr;
            for (int k = k0; k < Math.min(kg, k0 + mr); k++) body.run(grp, k);
        });
    }

    /**
     * U = G g G^T (G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]) for each (k, c) of each group,
     * computed in float64 and written straight into the layout {@link GemmTiles#sweep} reads: per
     * group and xi, per k block of kc channels, the row blocks' MR x kc micro-panels, rows past
     * kg zero.
     */
    private static float[] packedWeights(float[] w, int wOff, ConvGeom g, int kc) {
        int kg = g.kg(), cg = g.cg(), mr = Gemm.MR, rows = roundUp(kg, mr);
        float[] ap = new float[g.groups() * 16 * rows * cg];
        forEachOutputChannel(g, (grp, k) -> {
            double[] gg = new double[12];
            for (int c = 0; c < cg; c++) {
                int src = wOff + ((grp * kg + k) * cg + c) * 9;
                for (int j = 0; j < 3; j++) { // G g: rows of the 4x3 product
                    double g0 = w[src + j], g1 = w[src + 3 + j], g2 = w[src + 6 + j];
                    gg[j] = g0;
                    gg[3 + j] = 0.5 * (g0 + g1 + g2);
                    gg[6 + j] = 0.5 * (g0 - g1 + g2);
                    gg[9 + j] = g2;
                }
                int pc = c / kc * kc, kcb = Math.min(kc, cg - pc);
                int within = pc * rows + k / mr * mr * kcb + (c - pc) * mr + k % mr; // see PackedA
                for (int i = 0; i < 4; i++) { // (G g) G^T
                    double a = gg[3 * i], b = gg[3 * i + 1], cc = gg[3 * i + 2];
                    int at = (grp * 16 + 4 * i) * rows * cg + within;
                    ap[at] = (float) a;
                    ap[at + rows * cg] = (float) (0.5 * (a + b + cc));
                    ap[at + 2 * rows * cg] = (float) (0.5 * (a - b + cc));
                    ap[at + 3 * rows * cg] = (float) cc;
                }
            }
        });
        return ap;
    }

    /**
     * The four parity planes of one zero-padded input plane, at p0: planes[p0 + (2a + b) stride +
     * y TW + x] = padded[2y + a][2x + b]. Each input row goes 2 L elements at a time: a pair of
     * vectors unzipped into its even and odd elements, one vector to each column-parity plane.
     * The last pair of a row has its lanes past W zeroed, and the zeros it writes past the row
     * land on padding or on later rows of the same plane, which are written after it (rows go
     * in order); the planes have room for them past their last row (see Tiles). A pair that
     * would read past the input array goes element by element.
     */
    static void parityPlanes(float[] in, int src, ConvGeom g, Tiles t, float[] planes, int p0) {
        int stride = t.planeStride(), tw = t.tw(), w = g.w(), pw = g.pw();
        java.util.Arrays.fill(planes, p0, p0 + 4 * stride, 0f);
        // input column x (even) -> plane pe at column ce + x / 2; x + 1 -> plane po at column co + x / 2
        int pe = pw & 1, ce = pw >> 1, po = (1 + pw) & 1, co = (1 + pw) >> 1;
        FloatVector zero = FloatVector.zero(F);
        // the last pair of every row has the same lanes past W: its masks are made once, not per row (they showed in profiles)
        int lastLeft = w - (w - 1) / (2 * L) * 2 * L;
        VectorMask<Float> lastEven = F.indexInRange(0, (lastLeft + 1) / 2), lastOdd = F.indexInRange(0, lastLeft / 2);
        for (int y = 0; y < g.h(); y++) {
            int pr = y + g.ph(), rowBase = p0 + (pr & 1) * 2 * stride + (pr >> 1) * tw, s = src + y * w;
            int even = rowBase + pe * stride + ce, odd = rowBase + po * stride + co;
            for (int x = 0; x < w; x += 2 * L) {
                int left = w - x;
                if (s + x + 2 * L <= in.length) {
                    FloatVector a = ld(in, s + x), b = ld(in, s + x + L);
                    FloatVector ev = a.rearrange(Simd.UNZIP_EVEN, b), od = a.rearrange(Simd.UNZIP_ODD, b);
                    if (left < 2 * L) {
                        ev = zero.blend(ev, lastEven);
                        od = zero.blend(od, lastOdd);
                    }
                    ev.intoArray(planes, even + x / 2);
                    od.intoArray(planes, odd + x / 2);
                } else {
                    for (int k = 0; k < Math.min(left, 2 * L); k++) planes[((k & 1) == 0 ? even : odd) + (x + k) / 2] = in[s + x + k];
                }
            }
        }
    }

    /**
     * V = B^T d B for tiles [col, col + width) of one channel (parity planes at p0), into row
     * v0 of each packed V_xi panel (xi at xi vStride), the last vector stored whole (up to L - 1
     * columns past width); columns [width, fill) are then zeroed (the rest of a last panel that is
     * not full).
     * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. Two small loops through an L1 buffer, not
     * one straight-line block: with all 64 vector operations in one body C2 hit its inlining
     * node cutoff, left a Vector API call out of line, and boxed its vectors (JFR: 0.6 GB of
     * garbage per second, the transform 5x slower).
     */
    static void transformInput(float[] p, int p0, Tiles t, int col, int width, int fill, float[] v, int v0, int vStride, float[] tb) {
        int s = t.planeStride(), tw = t.tw();
        for (int j = 0; j < width; j += L) {
            // tb = B^T d, a column of d at a time: d[i][cj] lies in parity plane (i % 2, cj % 2) at q + (i / 2) TW + cj / 2
            for (int cj = 0; cj < 4; cj++) {
                int even = p0 + (cj & 1) * s + col + j + (cj >> 1), odd = even + 2 * s;
                FloatVector d0 = ld(p, even), d1 = ld(p, odd), d2 = ld(p, even + tw), d3 = ld(p, odd + tw);
                d0.sub(d2).intoArray(tb, cj * L);
                d1.add(d2).intoArray(tb, (4 + cj) * L);
                d2.sub(d1).intoArray(tb, (8 + cj) * L);
                d1.sub(d3).intoArray(tb, (12 + cj) * L);
            }
            // V = tb B, a row at a time: [t0 - t2, t1 + t2, t2 - t1, t1 - t3] to V_{4i..4i+3}
            for (int i = 0; i < 4; i++) {
                FloatVector t0 = ld(tb, 4 * i * L), t1 = ld(tb, (4 * i + 1) * L), t2 = ld(tb, (4 * i + 2) * L), t3 = ld(tb, (4 * i + 3) * L);
                int o = v0 + j + 4 * i * vStride;
                t0.sub(t2).intoArray(v, o);
                t1.add(t2).intoArray(v, o + vStride);
                t2.sub(t1).intoArray(v, o + 2 * vStride);
                t1.sub(t3).intoArray(v, o + 3 * vStride);
            }
        }
        for (int j = width; j < fill; j += L)
            for (int xi = 0; xi < 16; xi++) FloatVector.zero(F).intoArray(v, v0 + j + xi * vStride);
    }

    static FloatVector ld(float[] a, int i) {
        return FloatVector.fromArray(F, a, i);
    }

    /**
     * Y = A^T M A (A^T = [1 1 1 0; 0 1 -1 -1]) for the width tiles of one output channel, M_xi
     * at m0 + xi mStride, into the four output parity planes o[o0 + (2a + b) os], which
     * hold Y[a][b] of tile q at q; the last vector stored whole (up to L - 1 tiles past width).
     */
    private static void transformOutput(float[] m, int m0, int mStride, int width, float[] o, int o0, int os) {
        for (int j = 0; j < width; j += L) {
            int at = m0 + j;
            // rows of A^T M: (m0 + m1 + m2, m1 - m2 - m3) per column
            FloatVector x0 = ld(m, at), x1 = ld(m, at + 4 * mStride), x2 = ld(m, at + 8 * mStride), x3 = ld(m, at + 12 * mStride);
            FloatVector a0 = x0.add(x1).add(x2), b0 = x1.sub(x2).sub(x3);
            x0 = ld(m, at + mStride); x1 = ld(m, at + 5 * mStride); x2 = ld(m, at + 9 * mStride); x3 = ld(m, at + 13 * mStride);
            FloatVector a1 = x0.add(x1).add(x2), b1 = x1.sub(x2).sub(x3);
            x0 = ld(m, at + 2 * mStride); x1 = ld(m, at + 6 * mStride); x2 = ld(m, at + 10 * mStride); x3 = ld(m, at + 14 * mStride);
            FloatVector a2 = x0.add(x1).add(x2), b2 = x1.sub(x2).sub(x3);
            x0 = ld(m, at + 3 * mStride); x1 = ld(m, at + 7 * mStride); x2 = ld(m, at + 11 * mStride); x3 = ld(m, at + 15 * mStride);
            FloatVector a3 = x0.add(x1).add(x2), b3 = x1.sub(x2).sub(x3);
            // times A: (t0 + t1 + t2, t1 - t2 - t3) per row
            a0.add(a1).add(a2).intoArray(o, o0 + j);
            a1.sub(a2).sub(a3).intoArray(o, o0 + os + j);
            b0.add(b1).add(b2).intoArray(o, o0 + 2 * os + j);
            b1.sub(b2).sub(b3).intoArray(o, o0 + 3 * os + j);
        }
    }


    /**
     * Output plane at out[to] from its four parity planes at o[o0], plus the bias (and the
     * residual plane at res[ro] when res is given), with relu clamped at 0: per output row, L
     * tiles' even and odd columns zipped into 2 L outputs by two two-vector shuffles (was a
     * scalar stride-2 loop, ~4x slower per element measured). A row's last pair is stored whole:
     * what it writes past OW lies in later rows of the plane, which overwrite it (rows go in
     * order); a pair that would reach past the plane goes through buf (2 L floats at least).
     */
    private static void interleave(float[] o, int o0, Tiles t, float[] out, int to, ConvGeom g, float bias, boolean relu, float[] res, int ro,
                                   float[] buf) {
        FloatVector b = FloatVector.broadcast(F, bias), floor = FloatVector.broadcast(F, relu ? 0f : Float.NEGATIVE_INFINITY);
        int ow = g.ow(), os = t.outStride(), end = to + g.ohw();
        for (int oy = 0; oy < g.oh(); oy++) {
            int even = o0 + (oy & 1) * 2 * os + (oy >> 1) * t.tw(), odd = even + os, dst = to + oy * ow;
            for (int tx = 0; 2 * tx < ow; tx += L) {
                FloatVector e = ld(o, even + tx), d = ld(o, odd + tx);
                FloatVector lo = e.rearrange(Simd.ZIP_LO, d).add(b);
                int at = dst + 2 * tx;
                if (ow - 2 * tx <= L) { // the row ends within lo (14 wide, L = 16): hi would be dropped
                    if (at + L <= end) {
                        if (res != null) lo = lo.add(FloatVector.fromArray(F, res, ro + at - to));
                        lo.max(floor).intoArray(out, at);
                    } else {
                        lo.intoArray(buf, 0);
                        Conv2dKernels.finish(buf, out, at, end - at, res, ro + at - to, relu);
                    }
                    continue;
                }
                FloatVector hi = e.rearrange(Simd.ZIP_HI, d).add(b);
                if (at + 2 * L <= end) {
                    if (res != null) {
                        lo = lo.add(FloatVector.fromArray(F, res, ro + at - to));
                        hi = hi.add(FloatVector.fromArray(F, res, ro + at - to + L));
                    }
                    lo.max(floor).intoArray(out, at);
                    hi.max(floor).intoArray(out, at + L);
                } else {
                    lo.intoArray(buf, 0);
                    hi.intoArray(buf, L);
                    Conv2dKernels.finish(buf, out, at, end - at, res, ro + at - to, relu);
                }
            }
        }
    }
}
