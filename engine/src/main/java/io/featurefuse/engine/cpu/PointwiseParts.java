package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Parallel.grow;

/**
 * A 1x1 conv over maps joined along channels, read where each map lies: the joined map is never
 * made. The channel sum of output (k, p) is sum_c W[k][c] x[c][p] with c running through the parts
 * in order, so the product's k loop goes through each part's planes in turn and its tiles go on
 * from C (GemmTiles.sweep accumulating): every output is the same chain of multiply-adds as over
 * the joined map, and so the same bits. The input gradient of a part is W[:, part]^T dOut, and the
 * weight gradient's rows of a part read that part's planes; both are a joined conv's, row for
 * row. The reference model's concat fusion (64 + 96 channels at 14x14, b128) thus no longer writes
 * and reads back a 16 MB map a step.
 *
 * <p>A part may come at a smaller size, to be resized (bilinear or nearest) to the output's first.
 * A resize is the same linear map R on every plane and a 1x1 conv mixes planes, so W[:, part] R(x)
 * = R(W[:, part] x): the part's product runs at its own size and its K output planes are resized
 * and added to the other parts' sum. Backward turns that around: the part's output gradient is
 * R^T dOut, once per image, and its input and weight gradients are those of a 1x1 conv at its size.
 * The reference head's 96 channels at 7x7 (resized to 14x14 before) so take a quarter of their
 * multiply-adds, and neither the resized map nor its gradient is made. The sums run in another
 * order than over the resized map, so results differ from resize-then-conv in their last bits.
 */
public final class PointwiseParts {
    private static final int MR = Gemm.MR, NR = Gemm.NR;

    private PointwiseParts() {}

    /**
     * Maps joined along channels, as the conv reads them: part i has channels[i] planes per image,
     * image n's first at data[i][offsets[i] + n channels[i] HW]. A part with resized[i] (else null; the
     * array may be null: none) has planes of resized[i].inPlane() floats instead, resized to the
     * output's size before the conv reads them: the conv then runs at the part's own size and its
     * output planes are resized into the output (see the class comment).
     */
    public record Parts(float[][] data, int[] offsets, int[] channels, ResizeKernels.Prepared[] resized) {
        public Parts {
            if (data.length != offsets.length || data.length != channels.length || data.length == 0 || resized != null && resized.length != data.length)
                throw new IllegalArgumentException("parts: " + data.length + " arrays, " + offsets.length + " offsets, " + channels.length
                        + " channel counts" + (resized == null ? "" : " and " + resized.length + " resizes") + " must agree and not be none");
        }

        public Parts(float[][] data, int[] offsets, int[] channels) {
            this(data, offsets, channels, null);
        }

        int count() {
            return data.length;
        }

        /** Part p's resize, or null: read at the output's size. */
        ResizeKernels.Prepared resize(int p) {
            return resized == null ? null : resized[p];
        }

        /** Floats of one of part p's planes, whose output planes have hw. */
        int plane(int p, int hw) {
            return resize(p) == null ? hw : resize(p).inPlane();
        }

        /** Where part p's planes of image n start. */
        int image(int p, int n, int hw) {
            return offsets[p] + n * channels[p] * plane(p, hw);
        }

        /** Floats of one image's gradients of the k output planes at the resized parts' sizes (0: none resized). */
        int resizedImage(int k) {
            int sum = 0;
            for (int p = 0; p < count(); p++) if (resize(p) != null) sum += k * resize(p).inPlane();
            return sum;
        }

        /** Where resized part p's k output-gradient planes of image n start in a block whose image n starts at zOff + n resizedImage(k). */
        int resizedGradient(int p, int n, int k, int zOff) {
            int at = zOff + n * resizedImage(k);
            for (int q = 0; q < p; q++) if (resize(q) != null) at += k * resize(q).inPlane();
            return at;
        }
    }

    /**
     * True when conv g, over the parts' joined map, runs here: 1x1, stride 1, unpadded, one group,
     * where a conv of the joined map takes the pointwise forward (ImplicitConv) and the GEMM weight
     * gradient, whose chains of multiply-adds these are.
     */
    public static boolean applies(ConvGeom g) {
        return g.groups() == 1 && g.cg() > 1 && ImplicitConv.pointwise(g) && ImplicitConv.applies(g) && !Conv2dKernels.weightGradientByTaps(g);
    }

    /**
     * out (N,K,H,W), overwritten: conv2d of the joined parts by w (K,C,1,1) at wOff, plus bias (or null), relu clamped;
     * written as Conv2dKernels.forward's. A resized part's output planes (W[:, part] times its planes, at its size) are
     * resized and added to the other parts' sum.
     */
    public static void forward(float[] out, Parts x, float[] w, int wOff, float[] bias, int bOff, ConvGeom g, boolean relu,
                               Conv2dKernels.Written written) {
        check(x, g);
        int k = g.k(), hw = g.ohw();
        int[] shape = new int[x.count() + 1];
        shape[0] = k;
        System.arraycopy(x.channels(), 0, shape, 1, x.count());
        float[] ap = PackCache.get("pointwise-parts", w, wOff, k * g.c(), () -> packWeights(w, wOff, k, g.c(), x.channels()), shape);
        Parallel.forEach(g.n(), Conv2dKernels.thenWritten(n -> {
            boolean made = product(ap, k, x, n, hw, out, n * k * hw);
            for (int p = 0, c0 = 0; p < x.count(); c0 += x.channels()[p++]) {
                ResizeKernels.Prepared r = x.resize(p);
                if (r == null) continue;
                float[] z = grow(SCRATCH.get(), 3, k * r.inPlane());
                ImplicitConv.planeProduct(ap, ImplicitConv.packedGroupSize(k, c0), k, x.channels()[p], x.data()[p], x.image(p, n, hw), r.inPlane(), z, 0);
                r.forward(out, n * k * hw, z, 0, 0, k, made);
                made = true;
            }
            ImplicitConv.biasReluInPlace(out, n * k * hw, k, hw, bias, bOff, relu);
        }, written, g, 1));
    }

    /**
     * Part p's input gradient (N, channels[p], H, W) into dIn[p] at dInOff[p], overwritten, for each part whose
     * dIn[p] is not null, from dOut and w. Each image's parts are made one after the other, while its dOut planes
     * are in cache (a pass over dOut per part read it from memory once for each). No part may be resized: those
     * run as backwardOfChunks (with copied(dOut)), whose resized output gradients serve both gradients.
     */
    public static void backwardData(float[][] dIn, int[] dInOff, float[] dOut, int dOff, float[] w, int wOff, Parts x, ConvGeom g) {
        check(x, g);
        checkNoneResized(x);
        float[][] wt = transposedParts(dIn, w, wOff, x, g);
        Parallel.forEach(g.n(), n -> dataOfImage(dIn, dInOff, dOut, dOff, null, 0, wt, x, g, n));
    }

    static void checkNoneResized(Parts x) {
        if (x.resizedImage(1) > 0) throw new IllegalArgumentException("pointwise parts: resized parts' gradients run chunk by chunk (backwardOfChunks)");
    }

    /** dOut's images (image n at dOff + n K OH OW), copied into each chunk: backwardOfChunks' output gradient where it is made whole. */
    public static Conv2dKernels.OutputGradient copied(float[] dOut, int dOff, ConvGeom g) {
        int image = g.k() * g.ohw();
        return (n0, n1, d) -> System.arraycopy(dOut, dOff + n0 * image, d, 0, (n1 - n0) * image);
    }

    /**
     * backwardData (dIn and dInOff as there, or null: no part needs one) and Conv2dKernels.backwardWeight's (dW, or null)
     * chunk by chunk of images, as Conv2dKernels.backwardOfChunks, dOut made for each chunk just before. A resized part's
     * output gradient, dOut resized back to its size (ResizeKernels' backward), is made once per image of the chunk, and
     * both its input and its weight gradient go on from there.
     */
    public static void backwardOfChunks(float[][] dIn, int[] dInOff, float[] dW, Conv2dKernels.OutputGradient dOut, float[] w, int wOff, Parts x,
                                        ConvGeom g) {
        check(x, g);
        float[][] wt = dIn == null ? null : transposedParts(dIn, w, wOff, x, g);
        WeightGradient weights = dW == null ? null : new WeightGradient(g, null, 0, x);
        int k = g.k(), image = k * g.ohw(), low = x.resizedImage(k);
        if (low == 0) {
            Conv2dKernels.ofChunks(wt == null ? null : (d, dOff, n0, n1) -> {
                for (int n = n0; n < n1; n++) dataOfImage(dIn, dInOff, d, dOff, null, 0, wt, x, g, n);
            }, weights, dW, dOut, g);
            return;
        }
        int chunks = WeightGradient.chunks(g);
        Parallel.forEach(chunks, c -> {
            int n0 = WeightGradient.firstImage(c, g.n(), chunks), n1 = WeightGradient.firstImage(c + 1, g.n(), chunks);
            float[][] scratch = CHUNK.get();
            float[] d = grow(scratch, 0, (n1 - n0) * image + Simd.L), z = grow(scratch, 1, (n1 - n0) * low);
            dOut.images(n0, n1, d);
            int dOff = -n0 * image, zOff = -n0 * low; // image n at dOff + n K OH OW and zOff + n low, as in the layer's own
            for (int n = n0; n < n1; n++)
                for (int p = 0; p < x.count(); p++)
                    if (x.resize(p) != null) x.resize(p).backward(z, x.resizedGradient(p, n, k, zOff), d, dOff + n * image, k, image, 0, k);
            if (wt != null) for (int n = n0; n < n1; n++) dataOfImage(dIn, dInOff, d, dOff, z, zOff, wt, x, g, n);
            if (weights != null) weights.task(c, d, dOff, z, zOff);
        });
        if (weights != null) weights.finish(dW);
    }

    /** W[:, part]^T (channels x K) for each part whose dIn[p] is not null, packed as ImplicitConv.planeProduct reads it. */
    private static float[][] transposedParts(float[][] dIn, float[] w, int wOff, Parts x, ConvGeom g) {
        float[][] wt = new float[x.count()][];
        for (int p = 0, c0 = 0; p < x.count(); c0 += x.channels()[p++])
            if (dIn[p] != null) wt[p] = ImplicitConv.packWeights(w, wOff + c0, true, g.c(), 1, x.channels()[p], g.k());
        return wt;
    }

    /** Image n's input gradient of each part that has a dIn; a resized part's from its output gradient in z (image n at zOff + n resizedImage). */
    private static void dataOfImage(float[][] dIn, int[] dInOff, float[] dOut, int dOff, float[] z, int zOff, float[][] wt, Parts x, ConvGeom g, int n) {
        int k = g.k(), hw = g.ohw();
        for (int p = 0; p < x.count(); p++) {
            int ch = x.channels()[p], plane = x.plane(p, hw);
            if (dIn[p] == null) continue;
            if (x.resize(p) == null) ImplicitConv.planeProduct(wt[p], 0, ch, k, dOut, dOff + n * k * hw, hw, dIn[p], dInOff[p] + n * ch * hw);
            else ImplicitConv.planeProduct(wt[p], 0, ch, k, z, x.resizedGradient(p, n, k, zOff), plane, dIn[p], dInOff[p] + n * ch * plane);
        }
    }

    /**
     * tmp (C x K, rows of the joined channels) = the parts of image n (C x HW) . dOut_n^T (HW x K): the product
     * Conv2dKernels.backwardWeight sums over images, made part by part. dOut_n^T is packed once for all the parts
     * (a GEMM per part packed it again for each: 160 -> 128 as 64 + 96, b128, ~7.8 -> ~8.5-9.1 ms a weight gradient).
     * A resized part's rows are its planes . its output gradient^T, from z as in dataOfImage (z null: no part is resized).
     */
    static void weightProductOfImage(Parts x, int n, float[] dOut, int dOff, float[] z, int zOff, ConvGeom g, float[] tmp) {
        int k = g.k(), hw = g.ohw(), kc = Gemm.kBlock(hw), panels = (k + NR - 1) / NR;
        float[] packed = grow(SCRATCH.get(), 2, Gemm.packedSize(hw, k));
        for (int pc = 0; pc < hw; pc += kc) {
            int kcb = Math.min(kc, hw - pc);
            for (int q = 0; q < panels; q++) PackedB.packMicroPanel(dOut, dOff + n * k * hw, true, hw, pc, kcb, k, q * NR, packed, pc * panels * NR + q * kcb * NR);
        }
        for (int p = 0, c0 = 0; p < x.count(); c0 += x.channels()[p++]) {
            if (x.resize(p) != null) {
                int plane = x.plane(p, hw);
                Gemm.sgemm(1, x.channels()[p], k, plane, x.data()[p], x.image(p, n, hw), 0, false, plane, z, x.resizedGradient(p, n, k, zOff), 0,
                        true, plane, tmp, c0 * k, 0, k);
                continue;
            }
            Gemm.sgemmPacked(x.channels()[p], k, hw, x.data()[p], x.image(p, n, hw), false, hw, packed, 0, tmp, c0 * k, k);
        }
    }

    private static void check(Parts x, ConvGeom g) {
        int sum = 0;
        boolean sizes = true;
        for (int p = 0; p < x.count(); p++) {
            sum += x.channels()[p];
            if (x.resize(p) != null) sizes &= x.resize(p).outPlane() == g.ohw() && x.resize(p).outRows() == g.oh();
        }
        if (sum != g.c() || !applies(g) || !sizes)
            throw new IllegalArgumentException("pointwise parts: " + java.util.Arrays.toString(x.channels()) + (sizes ? "" : ", resized to another size,") + " for " + g);
    }

    /** W (m x C at wOff) packed part by part as ImplicitConv.packWeights packs each part's columns, one part after the other. */
    private static float[] packWeights(float[] w, int wOff, int m, int c, int[] channels) {
        float[] ap = new float[ImplicitConv.packedGroupSize(m, c)];
        for (int p = 0, at = 0, c0 = 0; p < channels.length; c0 += channels[p++]) {
            float[] part = ImplicitConv.packWeights(w, wOff + c0, false, c, 1, m, channels[p]);
            System.arraycopy(part, 0, ap, at, part.length);
            at += part.length;
        }
        return ap;
    }

    /**
     * out's m planes of image n (cols floats each, at outBase) = A . the planes of image n of the parts read at the output's
     * size: ImplicitConv.planeProduct with each NR-column panel made part by part, the tiles going on from C after the first
     * part. Returns false, leaving out as it was, where every part is resized.
     */
    private static boolean product(float[] ap, int m, Parts x, int n, int cols, float[] out, int outBase) {
        float[][] scratch = SCRATCH.get();
        int deepest = 0;
        for (int ch : x.channels()) deepest = Math.max(deepest, Gemm.kBlock(ch));
        float[] panel = grow(scratch, 0, deepest * NR), tile = grow(scratch, 1, MR * NR);
        boolean made = false;
        for (int col = 0; col < cols; col += NR) {
            made = false;
            for (int p = 0, c0 = 0; p < x.count(); c0 += x.channels()[p++]) {
                if (x.resize(p) != null) continue;
                ImplicitConv.panelProduct(ap, ImplicitConv.packedGroupSize(m, c0), m, x.channels()[p], x.data()[p], x.image(p, n, cols), cols, col, made, out,
                        outBase, panel, tile);
                made = true;
            }
        }
        return made;
    }

    /** Per thread: a partial panel, a partial tile, a packed dOut^T, a resized part's output planes at its size. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0], new float[0], new float[0]});
    /** Per thread: a chunk's output gradient, and its resized parts' output gradients. */
    private static final ThreadLocal<float[][]> CHUNK = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0]});
}
