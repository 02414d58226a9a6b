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
 */
public final class PointwiseParts {
    private static final int MR = Gemm.MR, NR = Gemm.NR;

    private PointwiseParts() {}

    /**
     * Maps joined along channels, as the conv reads them: part i has channels[i] planes per image,
     * image n's first at data[i][offsets[i] + n channels[i] HW].
     */
    public record Parts(float[][] data, int[] offsets, int[] channels) {
        public Parts {
            if (data.length != offsets.length || data.length != channels.length || data.length == 0)
                throw new IllegalArgumentException("parts: " + data.length + " arrays, " + offsets.length + " offsets and " + channels.length
                        + " channel counts must agree and not be none");
        }

        int count() {
            return data.length;
        }

        /** Where part p's planes of image n start. */
        int image(int p, int n, int hw) {
            return offsets[p] + n * channels[p] * hw;
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

    /** out (N,K,H,W), overwritten: conv2d of the joined parts by w (K,C,1,1) at wOff, plus bias (or null), relu clamped; written as Conv2dKernels.forward's. */
    public static void forward(float[] out, Parts x, float[] w, int wOff, float[] bias, int bOff, ConvGeom g, boolean relu,
                               Conv2dKernels.Written written) {
        check(x, g);
        int k = g.k(), hw = g.ohw();
        int[] shape = new int[x.count() + 1];
        shape[0] = k;
        System.arraycopy(x.channels(), 0, shape, 1, x.count());
        float[] ap = PackCache.get("pointwise-parts", w, wOff, k * g.c(), () -> packWeights(w, wOff, k, g.c(), x.channels()), shape);
        Parallel.forEach(g.n(), Conv2dKernels.thenWritten(n -> {
            product(ap, k, x, n, hw, out, n * k * hw);
            ImplicitConv.biasReluInPlace(out, n * k * hw, k, hw, bias, bOff, relu);
        }, written, g, 1));
    }

    /**
     * Part p's input gradient (N, channels[p], H, W) into dIn[p] at dInOff[p], overwritten, for each part whose
     * dIn[p] is not null, from dOut and w. Each image's parts are made one after the other, while its dOut planes
     * are in cache (a pass over dOut per part read it from memory once for each).
     */
    public static void backwardData(float[][] dIn, int[] dInOff, float[] dOut, int dOff, float[] w, int wOff, Parts x, ConvGeom g) {
        check(x, g);
        float[][] wt = transposedParts(dIn, w, wOff, x, g);
        Parallel.forEach(g.n(), n -> dataOfImage(dIn, dInOff, dOut, dOff, wt, x, g, n));
    }

    /**
     * backwardData (dIn and dInOff as there, or null: no part needs one) and Conv2dKernels.backwardWeight's (dW, or null)
     * chunk by chunk of images, as Conv2dKernels.backwardOfChunks, dOut made for each chunk just before.
     */
    public static void backwardOfChunks(float[][] dIn, int[] dInOff, float[] dW, Conv2dKernels.OutputGradient dOut, float[] w, int wOff, Parts x,
                                        ConvGeom g) {
        check(x, g);
        float[][] wt = dIn == null ? null : transposedParts(dIn, w, wOff, x, g);
        Conv2dKernels.ofChunks(wt == null ? null : (d, dOff, n0, n1) -> {
            for (int n = n0; n < n1; n++) dataOfImage(dIn, dInOff, d, dOff, wt, x, g, n);
        }, dW == null ? null : new WeightGradient(g, null, 0, x), dW, dOut, g);
    }

    /** W[:, part]^T (channels x K) for each part whose dIn[p] is not null, packed as ImplicitConv.planeProduct reads it. */
    private static float[][] transposedParts(float[][] dIn, float[] w, int wOff, Parts x, ConvGeom g) {
        float[][] wt = new float[x.count()][];
        for (int p = 0, c0 = 0; p < x.count(); c0 += x.channels()[p++])
            if (dIn[p] != null) wt[p] = ImplicitConv.packWeights(w, wOff + c0, true, g.c(), 1, x.channels()[p], g.k());
        return wt;
    }

    /** Image n's input gradient of each part that has a dIn. */
    private static void dataOfImage(float[][] dIn, int[] dInOff, float[] dOut, int dOff, float[][] wt, Parts x, ConvGeom g, int n) {
        int k = g.k(), hw = g.ohw();
        for (int p = 0; p < x.count(); p++) {
            int ch = x.channels()[p];
            if (dIn[p] != null) ImplicitConv.planeProduct(wt[p], 0, ch, k, dOut, dOff + n * k * hw, hw, dIn[p], dInOff[p] + n * ch * hw);
        }
    }

    /**
     * tmp (C x K, rows of the joined channels) = the parts of image n (C x HW) . dOut_n^T (HW x K): the product
     * Conv2dKernels.backwardWeight sums over images, made part by part. dOut_n^T is packed once for all the parts
     * (a GEMM per part packed it again for each: 160 -> 128 as 64 + 96, b128, ~7.8 -> ~8.5-9.1 ms a weight gradient).
     */
    static void weightProductOfImage(Parts x, int n, float[] dOut, int dOff, ConvGeom g, float[] tmp) {
        int k = g.k(), hw = g.ohw(), kc = Gemm.kBlock(hw), panels = (k + NR - 1) / NR;
        float[] packed = grow(SCRATCH.get(), 2, Gemm.packedSize(hw, k));
        for (int pc = 0; pc < hw; pc += kc) {
            int kcb = Math.min(kc, hw - pc);
            for (int q = 0; q < panels; q++) PackedB.packMicroPanel(dOut, dOff + n * k * hw, true, hw, pc, kcb, k, q * NR, packed, pc * panels * NR + q * kcb * NR);
        }
        for (int p = 0, c0 = 0; p < x.count(); c0 += x.channels()[p++])
            Gemm.sgemmPacked(x.channels()[p], k, hw, x.data()[p], x.image(p, n, hw), false, hw, packed, 0, tmp, c0 * k, k);
    }

    private static void check(Parts x, ConvGeom g) {
        int sum = 0;
        for (int ch : x.channels()) sum += ch;
        if (sum != g.c() || !applies(g)) throw new IllegalArgumentException("pointwise parts: " + java.util.Arrays.toString(x.channels()) + " for " + g);
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
     * out's m planes of image n (cols floats each, at outBase) = A . the parts' planes of image n: ImplicitConv.planeProduct
     * with each NR-column panel made part by part, the tiles going on from C after the first part.
     */
    private static void product(float[] ap, int m, Parts x, int n, int cols, float[] out, int outBase) {
        float[][] scratch = SCRATCH.get();
        int deepest = 0;
        for (int ch : x.channels()) deepest = Math.max(deepest, Gemm.kBlock(ch));
        float[] panel = grow(scratch, 0, deepest * NR), tile = grow(scratch, 1, MR * NR);
        for (int col = 0; col < cols; col += NR)
            for (int p = 0, at = 0; p < x.count(); p++)
                at = ImplicitConv.panelProduct(ap, at, m, x.channels()[p], x.data()[p], x.image(p, n, cols), cols, col, at > 0, out, outBase, panel, tile);
    }

    /** Per thread: a partial panel, a partial tile, a packed dOut^T. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0], new float[0]});
}
