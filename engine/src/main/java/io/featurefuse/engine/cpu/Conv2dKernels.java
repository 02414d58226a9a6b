package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;

/**
 * Fast float32 conv2d: im2col + the packed {@link Gemm}, per (image, group). One input channel
 * per group (depthwise) goes to {@link DepthwiseKernels}; wide 3x3 stride-1 layers to
 * {@link WinogradConv} (F(2x2, 3x3), or {@link WinogradF4}'s F(4x4, 3x3) where its tiles fit the map), other stride-1 layers (1x1 included) and strided ones whose taps read
 * every phase of the input (3x3 stride 2, not 1x1 stride 2) to {@link ImplicitConv}, whose
 * weights are packed once per call: a plain GEMM per image repacked them for every image
 * (1x1 160->128 14x14 b128, 2 threads: forward 85 -> 109 GFLOP/s, backward-data 86 -> 105).
 * The 1x1 weight gradient reads the input in place as its im2col matrix; the weight gradient of
 * a Winograd layer runs in the transform domain too ({@link WinogradWeightGrad}, {@link WinogradF4WeightGrad}), and that of a
 * stride-1 layer with few taps a channel tap by tap from the planes ({@link FewTapsWeightGrad}). The reference is
 * {@link Conv2dReference}.
 *
 * <p>Threads: with at least as many (image, group) tasks as threads, each task runs on one
 * thread with a single-threaded GEMM (the pool never nests); with fewer, the tasks run in turn
 * and each GEMM is parallel. The weight gradient sums images in a fixed number of chunks, in a
 * fixed order, so it is the same for any thread count.
 */
public final class Conv2dKernels {
    private Conv2dKernels() {}

    /**
     * Images per weight-gradient chunk are fixed by this count, not by the thread count, so sums
     * are the same on any machine. It was 8: on a 16-thread host that left the outer loop serial
     * (fewer tasks than threads) and training got slower from 8 to 16 threads (833 -> 657 img/s).
     */
    private static final int WEIGHT_GRAD_CHUNKS = 64;
    /** Where chunk 0's partial sums start in PARTIAL: on a cache line (see LineArrays). */
    private static final int P = Simd.LINE_START;
    /** The calling thread's weight-gradient partial sums. */
    private static final ThreadLocal<float[]> PARTIAL = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * Per thread: im2col columns, and one image's weight gradient (crs x kg) before it joins its
     * chunk's sum (a fresh array per task was ~45 MB/s of the train step's allocations, JFR).
     */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0]});

    private static float[] scratch(int size) {
        return Parallel.grow(SCRATCH.get(), 0, size);
    }

    /** An im2col matrix (crs x ohw): the input itself for direct 1x1 convs, else this thread's scratch. */
    private record Columns(float[] data, int offset) {}

    private static Columns im2col(float[] in, int inBase, ConvGeom g) {
        if (direct(g)) return new Columns(in, inBase);
        float[] col = scratch(g.crs() * g.ohw());
        im2col(in, inBase, g, col);
        return new Columns(col, 0);
    }

    /** True when the input itself is the im2col matrix. */
    static boolean direct(ConvGeom g) {
        return g.r() == 1 && g.s() == 1 && g.sh() == 1 && g.sw() == 1 && g.ph() == 0 && g.pw() == 0;
    }

    /** True when forward (and, through the flipped convolution, backward-data) of g runs as Winograd (F(2x2, 3x3) or F(4x4, 3x3)). */
    public static boolean usesWinograd(ConvGeom g) {
        return WinogradConv.applies(g);
    }

    /** True when the weight gradient of g is summed tap by tap from the planes ({@link FewTapsWeightGrad}) rather than by a GEMM. */
    public static boolean weightGradientByTaps(ConvGeom g) {
        return !DepthwiseKernels.applies(g) && !WinogradConv.applies(g) && FewTapsWeightGrad.applies(g);
    }

    /** True when the forward of g runs through {@link TapTiles}, whose stores add the bias and apply the ReLU. */
    public static boolean usesTapTiles(ConvGeom g) {
        return !DepthwiseKernels.applies(g) && !WinogradConv.applies(g) && ImplicitConv.applies(g) && ImplicitConv.writesByTapTiles(g);
    }

    /** True when such a Winograd forward runs with 4x4 output tiles, F(4x4, 3x3) ({@link WinogradF4}). */
    public static boolean usesWinograd4x4(ConvGeom g) {
        return WinogradConv.applies(g) && WinogradF4.better(g);
    }

    private static void run(int tasks, java.util.function.IntConsumer task) {
        if (tasks >= Parallel.threads()) Parallel.forEach(tasks, task);
        else for (int t = 0; t < tasks; t++) task.accept(t);
    }

    /**
     * Told by a forward route that the output planes (image i, channel k) for i in [n0, n1), k in
     * [k0, k1) are final: each plane once, right after the task that wrote it, on its thread, while
     * the planes are still in cache (where a route runs its tasks in turn with parallel GEMMs inside,
     * the caller's). A reader of the output (batch-norm statistics) then needs no pass of its own
     * over memory. Called from several threads at once.
     */
    @FunctionalInterface
    public interface Written {
        void planes(int n0, int n1, int k0, int k1);
    }

    /**
     * body, then written told of its task's planes: task t covers images [t / groups * images, + images)
     * (to n) of group t % groups, kg channels. body itself when written is null.
     */
    static java.util.function.IntConsumer thenWritten(java.util.function.IntConsumer body, Written written, ConvGeom g, int images) {
        if (written == null) return body;
        int groups = g.groups(), kg = g.kg();
        return task -> {
            body.accept(task);
            int n0 = task / groups * images, k0 = task % groups * kg;
            written.planes(n0, Math.min(g.n(), n0 + images), k0, k0 + kg);
        };
    }

    // in: (N,C,H,W) at inOff, w: (K,C/g,R,S) at wOff, bias: (K) or null; out: (N,K,OH,OW), overwritten
    public static void forward(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g) {
        forward(out, in, inOff, w, wOff, bias, bOff, g, false);
    }

    /** As above; with relu, max(0, .) is applied in the same pass as the bias, while the output is in cache. */
    public static void forward(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g, boolean relu) {
        forward(out, in, inOff, w, wOff, bias, bOff, g, relu, null);
    }

    /**
     * As above, and written (when not null) is told as each image's output planes are done (see
     * {@link Written}); the depthwise route tells it after the whole output is written.
     */
    public static void forward(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g, boolean relu,
                               Written written) {
        if (DepthwiseKernels.applies(g)) {
            DepthwiseKernels.forward(out, in, inOff, w, wOff, bias, bOff, g);
            if (relu) run(g.n(), n -> reluInPlace(out, n * g.k() * g.ohw(), g.k() * g.ohw()));
            if (written != null) run(g.n(), n -> written.planes(n, n + 1, 0, g.k()));
            return;
        }
        if (WinogradConv.applies(g)) {
            WinogradConv.forward(out, in, inOff, w, wOff, bias, bOff, g, relu, null, 0, written);
            return;
        }
        if (ImplicitConv.applies(g)) {
            ImplicitConv.forward(out, in, inOff, w, wOff, bias, bOff, g, relu, written);
            return;
        }
        int groups = g.groups(), kg = g.kg(), crs = g.crs(), ohw = g.ohw(), hw = g.h() * g.w();
        run(g.n() * groups, thenWritten(t -> {
            int n = t / groups, grp = t % groups;
            int inBase = inOff + (n * g.c() + grp * g.cg()) * hw, o = (n * g.k() + grp * kg) * ohw;
            if (direct(g)) {
                Gemm.sgemm(1, kg, ohw, crs, w, wOff + grp * kg * crs, 0, false, crs, in, inBase, 0, false, ohw, out, o, 0, ohw);
            } else {
                // im2col written straight into the GEMM's packed layout: one pass over the data, not two
                float[] packed = scratch(Gemm.packedSize(crs, ohw));
                im2colPacked(in, inBase, g, packed);
                Gemm.sgemmPacked(kg, ohw, crs, w, wOff + grp * kg * crs, false, crs, packed, 0, out, o, ohw);
            }
            if (bias != null) for (int k = 0; k < kg; k++) addScalar(out, o + k * ohw, ohw, bias[bOff + grp * kg + k]);
            if (relu) reluInPlace(out, o, kg * ohw);
        }, written, g, 1));
    }

    /**
     * out = relu(conv2d + bias + res), res (N,K,OH,OW) at resOff: a residual block's last conv (BN folded into it)
     * with the shortcut added and the ReLU applied. The Winograd routes add res in their output pass, while the
     * plane is being written anyway (inference of a ResNet block otherwise writes the conv's output, then reads it
     * back with the shortcut and writes the sum); the others run the convolution, then one pass over the output. The
     * sum is (conv + bias) + res, then the clamp: the operations of conv2d then Tensor.addRelu, so the same bits.
     */
    public static void forwardAddRelu(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, float[] res, int resOff,
                                      ConvGeom g) {
        if (WinogradConv.applies(g)) {
            WinogradConv.forward(out, in, inOff, w, wOff, bias, bOff, g, true, res, resOff, null);
            return;
        }
        forward(out, in, inOff, w, wOff, bias, bOff, g, false);
        int per = g.k() * g.ohw();
        run(g.n(), n -> SimdKernels.binary(BinaryOp.ADD_RELU, out, n * per, 1, res, resOff + n * per, 1, out, n * per, per));
    }

    /**
     * The n floats from buf to out[at], each plus res[ro + i] when res is given, clamped at 0 when relu: the end
     * of an output plane, which a Winograd route computes in whole vectors into buf.
     */
    static void finish(float[] buf, float[] out, int at, int n, float[] res, int ro, boolean relu) {
        for (int i = 0; i < n; i++) {
            float v = res == null ? buf[i] : buf[i] + res[ro + i];
            out[at + i] = relu ? Math.max(v, 0f) : v;
        }
    }

    private static void reluInPlace(float[] x, int off, int n) {
        int i = 0;
        FloatVector zero = FloatVector.zero(F);
        for (int bound = F.loopBound(n); i < bound; i += L) FloatVector.fromArray(F, x, off + i).max(zero).intoArray(x, off + i);
        for (; i < n; i++) x[off + i] = Math.max(x[off + i], 0f);
    }

    /** dIn (N,C,H,W), overwritten, from dOut (N,K,OH,OW) and the weight. */
    public static void backwardData(float[] dIn, float[] dOut, int dOff, float[] w, int wOff, ConvGeom g) {
        backwardData(dIn, dOut, dOff, w, wOff, g, false);
    }

    /**
     * True when {@link #backwardData(float[], float[], int, float[], int, ConvGeom, boolean)} can add the input
     * gradient to what dIn holds in the pass that writes it: the Winograd routes and the phase-plane route
     * ({@link PhaseDataGradient}), which between them take every 3x3 layer of the reference models.
     */
    public static boolean addsInputGradient(ConvGeom g) {
        if (DepthwiseKernels.applies(g)) return false;
        ConvGeom back = flippedGeometry(g);
        return back != null ? WinogradConv.applies(back) : readsPhasePlanes(g);
    }

    /**
     * As above; with adding (where {@link #addsInputGradient} allows it), dIn[i] becomes dIn[i] + the gradient
     * instead: where a tensor feeds a conv and something else, its gradients' sum is made in this pass rather than
     * in a pass of its own over three buffers (12.8 MB each for the reference model's 32x28x28 maps). A float sum
     * of two terms is the same whichever comes first, so these are Tensor.add's bits.
     */
    public static void backwardData(float[] dIn, float[] dOut, int dOff, float[] w, int wOff, ConvGeom g, boolean adding) {
        if (adding && !addsInputGradient(g)) throw new IllegalArgumentException("conv2d backward: this layer's input-gradient route cannot add in place: " + g);
        if (DepthwiseKernels.applies(g)) {
            DepthwiseKernels.backwardData(dIn, dOut, dOff, w, wOff, g);
            return;
        }
        ConvGeom back = flippedGeometry(g);
        if (back != null) {
            float[] wf = flipped(w, wOff, g);
            // adding: the Winograd forward with dIn as its residual too (it makes each plane in scratch, then copies)
            if (adding) PackCache.bypassed(() -> WinogradConv.forward(dIn, dOut, dOff, wf, 0, null, 0, back, false, dIn, 0, null));
            else PackCache.bypassed(() -> forward(dIn, dOut, dOff, wf, 0, null, 0, back));
            return;
        }
        int groups = g.groups(), kg = g.kg(), crs = g.crs(), ohw = g.ohw(), hw = g.h() * g.w();
        // W^T packed once for all images when they run as parallel tasks (the GEMM per image packed it
        // again each time: a transposed pack of crs x kg floats for a product of crs x kg x ohw)
        boolean perImage = !direct(g) && g.n() * groups >= Parallel.threads();
        float[] wt = perImage ? ImplicitConv.packWeights(w, wOff, true, groups, crs, kg) : null;
        int wtGroup = ImplicitConv.packedGroupSize(crs, kg);
        ImplicitConv.Layout lay = readsPhasePlanes(g) ? ImplicitConv.Layout.of(g) : null;
        run(g.n() * groups, t -> {
            int n = t / groups, grp = t % groups;
            if (lay != null) {
                PhaseDataGradient.ofImage(dIn, dOut, dOff, wt, grp * wtGroup, g, lay, n, grp, adding);
                return;
            }
            int inBase = (n * g.c() + grp * g.cg()) * hw;
            int go = dOff + (n * g.k() + grp * kg) * ohw;
            // dcol (crs x ohw) = W_g^T (crs x kg) . dOut_g (kg x ohw)
            if (direct(g)) {
                Gemm.sgemm(1, crs, ohw, kg, w, wOff + grp * kg * crs, 0, true, crs, dOut, go, 0, false, ohw, dIn, inBase, 0, ohw);
            } else {
                float[] col = scratch(crs * ohw);
                if (perImage) ImplicitConv.planeProduct(wt, grp * wtGroup, crs, kg, dOut, go, ohw, col, 0);
                else Gemm.sgemm(1, crs, ohw, kg, w, wOff + grp * kg * crs, 0, true, crs, dOut, go, 0, false, ohw, col, 0, 0, ohw);
                if (pointwiseStrideTwo(g)) {
                    spreadStrideTwo(col, g, dIn, inBase);
                } else {
                    java.util.Arrays.fill(dIn, inBase, inBase + g.cg() * hw, 0f);
                    col2im(col, g, dIn, inBase);
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
        return !direct(g) && g.n() * g.groups() >= Parallel.threads() && g.r() * g.s() > 1;
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

    /** dW (K,C/g,R,S), overwritten, from dOut and the input: sum over images of dOut_n . im2col(in_n)^T. */
    public static void backwardWeight(float[] dW, float[] dOut, int dOff, float[] in, int inOff, ConvGeom g) {
        backwardWeight(dW, dOut, dOff, in, inOff, null, g);
    }

    /** As above, the input being parts joined along channels (where PointwiseParts.applies(g)): each image's product made part by part. */
    public static void backwardWeight(float[] dW, float[] dOut, int dOff, PointwiseParts.Parts parts, ConvGeom g) {
        if (!PointwiseParts.applies(g)) throw new IllegalArgumentException("conv2d backward: parts need a pointwise layer, not " + g);
        backwardWeight(dW, dOut, dOff, null, 0, parts, g);
    }

    private static void backwardWeight(float[] dW, float[] dOut, int dOff, float[] in, int inOff, PointwiseParts.Parts parts, ConvGeom g) {
        if (DepthwiseKernels.applies(g)) {
            DepthwiseKernels.backwardWeight(dW, dOut, dOff, in, inOff, g);
            return;
        }
        int groups = g.groups(), kg = g.kg(), crs = g.crs(), ohw = g.ohw(), hw = g.h() * g.w();
        int chunks = Math.min(g.n(), WEIGHT_GRAD_CHUNKS);
        boolean winograd = WinogradConv.applies(g), f4 = winograd && WinogradF4.better(g);
        int size = f4 ? WinogradF4WeightGrad.partialSize(g) : winograd ? WinogradWeightGrad.partialSize(g) : g.k() * crs;
        // Partial sums per chunk in transposed layout, dW_g^T (crs x kg): the GEMM then reads the
        // im2col matrix row by row as its A and packs only dOut^T (kg x ohw) as B, instead of
        // gathering the whole im2col matrix column-wise into B. (Winograd layers keep their dU there
        // instead, see WinogradWeightGrad.partialSize.)
        // Reused across calls (a fresh 64-chunk buffer would be a humongous allocation per layer and
        // step); the first image of each chunk overwrites its part, so it needs no zeroing.
        float[] partial = PARTIAL.get();
        if (partial.length < P + (long) chunks * size) PARTIAL.set(partial = LineArrays.of(chunks * size));
        float[] sums = partial;
        boolean fewTaps = weightGradientByTaps(g);
        ImplicitConv.Layout lay = !fewTaps && !direct(g) && ImplicitConv.appliesToWeights(g) ? ImplicitConv.Layout.of(g) : null;
        Parallel.forEach(chunks * groups, t -> {
            int chunk = t / groups, grp = t % groups;
            int n0 = (int) ((long) chunk * g.n() / chunks), n1 = (int) ((long) (chunk + 1) * g.n() / chunks);
            if (fewTaps) {
                FewTapsWeightGrad.sumImages(dOut, dOff, in, inOff, g, n0, n1, grp, sums, P + chunk * size + grp * kg * crs);
                return;
            }
            if (f4) {
                WinogradF4WeightGrad.sumImages(dOut, dOff, in, inOff, g, n0, n1, grp, sums, P + chunk * size + grp * (size / groups));
                return;
            }
            if (winograd) {
                WinogradWeightGrad.sumImages(dOut, dOff, in, inOff, g, n0, n1, grp, sums, P + chunk * size + grp * (size / groups));
                return;
            }
            float[] tmp = Parallel.grow(SCRATCH.get(), 1, crs * kg);
            int pOff = P + chunk * size + grp * kg * crs;
            for (int n = n0; n < n1; n++) {
                if (parts != null) {
                    PointwiseParts.weightProductOfImage(parts, n, dOut, dOff, g, tmp);
                } else if (lay != null) {
                    ImplicitConv.weightGradientOfImage(dOut, dOff, in, inOff, g, lay, n, grp, tmp);
                } else {
                    Columns col = im2col(in, inOff + (n * g.c() + grp * g.cg()) * hw, g);
                    // tmp (crs x kg) = col (crs x ohw) . dOut_n,g^T (ohw x kg)
                    Gemm.sgemm(1, crs, kg, ohw, col.data(), col.offset(), 0, false, ohw, dOut, dOff + (n * g.k() + grp * kg) * ohw, 0, true,
                            ohw, tmp, 0, 0, kg);
                }
                if (n == n0) System.arraycopy(tmp, 0, sums, pOff, kg * crs);
                else addInto(sums, pOff, tmp, 0, kg * crs);
            }
        });
        // Chunks summed in order per element, in parallel over element blocks.
        int block = 4096, blocks = (size + block - 1) / block;
        Parallel.forEach(blocks, b -> {
            int from = b * block, len = Math.min(block, size - from);
            for (int chunk = 1; chunk < chunks; chunk++) addInto(sums, P + from, sums, P + chunk * size + from, len);
        });
        if (f4) {
            WinogradF4WeightGrad.toWeights(partial, P, g, dW);
            return;
        }
        if (winograd) {
            WinogradWeightGrad.toWeights(partial, P, g, dW);
            return;
        }
        for (int grp = 0; grp < groups; grp++)
            for (int kk = 0; kk < crs; kk++)
                for (int k = 0; k < kg; k++) dW[(grp * kg + k) * crs + kk] = partial[P + grp * kg * crs + kk * kg + k];
    }

    /** col[(c R + i) S + j][y OW + x] = in[c][y sh - ph + i dh][x sw - pw + j dw], 0 outside. */
    static void im2col(float[] in, int inBase, ConvGeom g, float[] col) {
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
    static void everyOther(float[] in, int s, float[] out, int d, int n) {
        int i = 0;
        for (; i + L <= n && s + 2 * (i + L) <= in.length; i += L) {
            FloatVector a = FloatVector.fromArray(F, in, s + 2 * i), b = FloatVector.fromArray(F, in, s + 2 * i + L);
            a.rearrange(Simd.UNZIP_EVEN, b).intoArray(out, d + i);
        }
        for (; i < n; i++) out[d + i] = in[s + 2 * i];
    }

    /**
     * im2col in {@link Gemm}'s packed layout for B (crs x ohw): each row's values go to its
     * panels NR at a time, contiguous runs copied with arraycopy, and the padding columns
     * zeroed.
     */
    static void im2colPacked(float[] in, int inBase, ConvGeom g, float[] dst) {
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

    /** The adjoint of im2col: dIn[...] += col[...] over the same index map. */
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
                        if (g.sw() == 1) addInto(dIn, dst + x0, col, src + x0, x1 - x0);
                        else if (g.sw() == 2) addEveryOther(dIn, dst + 2 * x0, rowStart + g.w(), col, src + x0, x1 - x0);
                        else for (int x = x0; x < x1; x++) dIn[dst + x * g.sw()] += col[src + x];
                    }
                }
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

    /**
     * dst[d + 2 i] += src[s + i] for i in [0, n) (stride 2): L sources zipped with zeros into two
     * vectors added over 2 L floats of dst, the odd ones plus 0 (unchanged, but for -0 becoming
     * +0). Vectors stop where 2 L floats would pass end (the row's end; the next row may belong to
     * another task); the rest goes one by one. The scalar strided loop took ~10% of a 3x3
     * stride-2 32->64 28x28 b128 fwd+bwd, this ~8%: that fwd+bwd ~80-86 -> ~84-89 GFLOP/s (jars
     * alternating 5 times). Letting the vectors run on to the end of the task's part of dIn, a
     * last part vector's sources zeroed by a mask, measured slower (79-85).
     */
    static void addEveryOther(float[] dst, int d, int end, float[] src, int s, int n) {
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

    /** dst[d .. d+n) += src[s .. s+n). */
    static void addInto(float[] dst, int d, float[] src, int s, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L)
            FloatVector.fromArray(F, dst, d + i).add(FloatVector.fromArray(F, src, s + i)).intoArray(dst, d + i);
        for (; i < n; i++) dst[d + i] += src[s + i];
    }

    private static void addScalar(float[] x, int off, int n, float v) {
        int i = 0;
        FloatVector bv = FloatVector.broadcast(F, v);
        for (int bound = F.loopBound(n); i < bound; i += L)
            FloatVector.fromArray(F, x, off + i).add(bv).intoArray(x, off + i);
        for (; i < n; i++) x[off + i] += v;
    }
}
