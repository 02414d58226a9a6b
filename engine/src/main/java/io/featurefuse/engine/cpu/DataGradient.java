package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;

/**
 * One call's conv2d input gradient (not depthwise), its weights prepared once: flipped and
 * Winograd-transformed where the gradient is itself a convolution (see flippedGeometry), else W^T
 * packed for the per-image products, whose columns go back through phase planes
 * ({@link PhaseDataGradient}), col2im, or the stride-2 spread. {@link #images} runs any range of
 * images, so {@link Conv2dKernels#backwardData} runs them all and {@link Conv2dKernels#backwardOfChunks}
 * one chunk at a time; an image's gradient does not depend on which others run with it.
 */
final class DataGradient {
    /** Per thread: one image's columns (crs x ohw) before col2im. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    private final ConvGeom g, back;
    private final float[] w, u, wt; // u: the flipped weights packed for its Winograd or implicit GEMM forward
    private final int wOff, wtGroup;
    private final boolean perImage;
    private final ImplicitConv.Layout lay;

    DataGradient(float[] w, int wOff, ConvGeom g) {
        this.g = g;
        this.w = w;
        this.wOff = wOff;
        back = flippedGeometry(g);
        // backward's weights change every call: packed for it alone, nothing kept (see PackCache.bypassed)
        float[][] packed = new float[1][];
        if (back != null && WinogradConv.applies(back)) PackCache.bypassed(() -> packed[0] = WinogradConv.packed(flipped(w, wOff, g), 0, back));
        else if (back != null && ImplicitConv.applies(back)) PackCache.bypassed(() -> packed[0] = ImplicitConv.packed(flipped(w, wOff, g), 0, back));
        u = packed[0];
        int groups = g.groups(), kg = g.kg(), crs = g.crs();
        // W^T packed once for all images when they run as parallel tasks (the GEMM per image packed it
        // again each time: a transposed pack of crs x kg floats for a product of crs x kg x ohw)
        perImage = back == null && !Conv2dKernels.direct(g) && g.n() * groups >= Parallel.threads();
        wt = perImage ? ImplicitConv.packWeights(w, wOff, true, groups, crs, kg) : null;
        wtGroup = ImplicitConv.packedGroupSize(crs, kg);
        lay = back == null && readsPhasePlanes(g) ? ImplicitConv.Layout.of(g) : null;
    }

    /** True when {@link #images} can add into dIn in the pass that writes it (see Conv2dKernels.addsInputGradient). */
    static boolean addsInPlace(ConvGeom g) {
        ConvGeom back = flippedGeometry(g);
        return back != null ? WinogradConv.applies(back) : readsPhasePlanes(g);
    }

    /**
     * True when {@link #images} takes any range of images, not only all of them: a flipped route that is neither Winograd
     * nor the implicit GEMM runs Conv2dKernels.forward.
     */
    static boolean takesRanges(ConvGeom g) {
        ConvGeom back = flippedGeometry(g);
        return back == null || WinogradConv.applies(back) || ImplicitConv.applies(back);
    }

    /**
     * dIn's planes of images [first, end), overwritten (adding: added to, where addsInPlace), from dOut's (image n's
     * at dOff + n K OH OW, as the layer's own): in parallel over those images, or on the calling thread within a task.
     */
    void images(float[] dIn, float[] dOut, int dOff, int first, int end, boolean adding) {
        if (u != null && WinogradConv.applies(back)) {
            // adding: the Winograd forward with dIn as its residual too (it makes each plane in scratch, then copies)
            WinogradConv.forwardImages(dIn, dOut, dOff, u, null, 0, back, false, adding ? dIn : null, 0, null, first, end);
            return;
        }
        if (u != null) { // the flipped conv by the implicit GEMM, as Conv2dKernels.forward would run it (not adding: see addsInPlace)
            if (adding) throw new IllegalArgumentException("conv2d backward: this layer's input gradient is not added in place: " + g);
            ImplicitConv.forwardImages(dIn, dOut, dOff, u, null, 0, back, false, null, first, end);
            return;
        }
        if (back != null) {
            if (first != 0 || end != g.n()) throw new IllegalArgumentException("conv2d backward: this layer's input gradient runs for all images at once: " + g);
            float[] wf = flipped(w, wOff, g);
            PackCache.bypassed(() -> Conv2dKernels.forward(dIn, dOut, dOff, wf, 0, null, 0, back));
            return;
        }
        int groups = g.groups(), kg = g.kg(), crs = g.crs(), ohw = g.ohw(), hw = g.h() * g.w();
        Conv2dKernels.run((end - first) * groups, t -> {
            int n = first + t / groups, grp = t % groups;
            if (lay != null) {
                PhaseDataGradient.ofImage(dIn, dOut, dOff, wt, grp * wtGroup, g, lay, n, grp, adding);
                return;
            }
            int inBase = (n * g.c() + grp * g.cg()) * hw;
            int go = dOff + (n * g.k() + grp * kg) * ohw;
            // dcol (crs x ohw) = W_g^T (crs x kg) . dOut_g (kg x ohw)
            if (Conv2dKernels.direct(g)) {
                Gemm.sgemm(1, crs, ohw, kg, w, wOff + grp * kg * crs, 0, true, crs, dOut, go, 0, false, ohw, dIn, inBase, 0, ohw);
            } else {
                float[] col = Parallel.grow(SCRATCH.get(), 0, crs * ohw);
                if (perImage) ImplicitConv.planeProduct(wt, grp * wtGroup, crs, kg, dOut, go, ohw, col, 0);
                else Gemm.sgemm(1, crs, ohw, kg, w, wOff + grp * kg * crs, 0, true, crs, dOut, go, 0, false, ohw, col, 0, 0, ohw);
                if (pointwiseStrideTwo(g)) {
                    spreadStrideTwo(col, g, dIn, inBase);
                } else {
                    java.util.Arrays.fill(dIn, inBase, inBase + g.cg() * hw, 0f);
                    Im2col.col2im(col, g, dIn, inBase);
                }
            }
        });
    }

    /**
     * With stride and dilation 1 the input gradient is itself a convolution: of dOut, padded by kernel - 1 - pad,
     * with the weight flipped in space and in/out swapped. That GEMM has k = (K / groups) R S instead of K / groups
     * (e.g. 288, not 32), which the packed GEMM runs far closer to peak than im2col's adjoint (col2im) could. Its m
     * is C / groups: with few input channels (a first layer: 1) the col2im route is faster. The geometry of that
     * convolution, or null where backwardData takes another route.
     */
    private static ConvGeom flippedGeometry(ConvGeom g) {
        if (!(g.cg() >= 16 && g.sh() == 1 && g.sw() == 1 && g.dh() == 1 && g.dw() == 1 && g.ph() < g.r() && g.pw() < g.s())) return null;
        return new ConvGeom(g.n(), g.k(), g.oh(), g.ow(), g.c(), g.r(), g.s(), g.h(), g.w(), 1, 1, g.r() - 1 - g.ph(), g.s() - 1 - g.pw(), 1, 1,
                g.groups());
    }

    /** True when backwardData's other routes do col2im's adds through phase planes (see PhaseDataGradient): several taps, an image per task. */
    private static boolean readsPhasePlanes(ConvGeom g) {
        return !Conv2dKernels.direct(g) && g.n() * g.groups() >= Parallel.threads() && g.r() * g.s() > 1;
    }

    /** w'[c][k][i][j] = w[k][c][R-1-i][S-1-j] within each group: the weight of backward-data as a convolution. */
    private static float[] flipped(float[] w, int wOff, ConvGeom g) {
        int cg = g.cg(), kg = g.kg(), rs = g.r() * g.s();
        float[] out = new float[g.c() * kg * rs];
        for (int grp = 0; grp < g.groups(); grp++)
            for (int k = 0; k < kg; k++)
                for (int c = 0; c < cg; c++) {
                    int src = wOff + ((grp * kg + k) * cg + c) * rs, dst = ((grp * cg + c) * kg + k) * rs;
                    for (int t = 0; t < rs; t++) out[dst + t] = w[src + rs - 1 - t];
                }
        return out;
    }

    /** 1x1, stride 2 both ways, unpadded: a projection shortcut, whose input gradient is col at even rows and columns, zero elsewhere. */
    private static boolean pointwiseStrideTwo(ConvGeom g) {
        return g.r() == 1 && g.s() == 1 && g.sh() == 2 && g.sw() == 2 && g.ph() == 0 && g.pw() == 0;
    }

    /**
     * col2im for pointwiseStrideTwo layers, dIn's cg planes at inBase overwritten in one pass: an even row is its
     * col row zipped with zeros, an odd row zeros. Filling the planes with zeros and then adding every other float
     * of the even rows (one by one where a row has fewer than L outputs: 14 on the reference 28x28 shortcut) wrote
     * the planes twice. col + 0, as col2im's 0 + col: -0 becomes +0 alike.
     */
    private static void spreadStrideTwo(float[] col, ConvGeom g, float[] dIn, int inBase) {
        FloatVector zero = FloatVector.zero(F);
        int w = g.w(), ow = g.ow();
        for (int c = 0; c < g.cg(); c++)
            for (int y = 0; y < g.h(); y++) {
                int dst = inBase + (c * g.h() + y) * w;
                if (y % 2 != 0) { // the even rows are exactly the oh sampled ones
                    java.util.Arrays.fill(dIn, dst, dst + w, 0f);
                    continue;
                }
                for (int i = 0, src = (c * g.oh() + y / 2) * ow; i < ow; i += L) {
                    FloatVector v = FloatVector.fromArray(F, col, src + i, F.indexInRange(i, ow)).add(zero);
                    v.rearrange(Simd.ZIP_LO, zero).intoArray(dIn, dst + 2 * i, F.indexInRange(2 * i, w));
                    v.rearrange(Simd.ZIP_HI, zero).intoArray(dIn, dst + 2 * i + L, F.indexInRange(2 * i + L, w));
                }
            }
    }
}
