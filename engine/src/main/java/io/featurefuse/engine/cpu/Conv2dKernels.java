package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * Fast float32 conv2d: {@link Im2col} + the packed {@link Gemm}, per (image, group). One input channel
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
 * fixed order, so it is the same for any thread count ({@link WeightGradient}); the input gradient's
 * routes are {@link DataGradient}'s. {@link #backwardOfChunks} runs both chunk by chunk.
 */
public final class Conv2dKernels {
    private Conv2dKernels() {}

    /** Per thread: the forward's im2col, written in the GEMM's packed layout for B. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    private static float[] scratch(int size) {
        return Parallel.grow(SCRATCH.get(), 0, size);
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

    static void run(int tasks, java.util.function.IntConsumer task) {
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
        return thenWritten(body, written, g, images, 0);
    }

    /** As above, the tasks' images counted from first. */
    static java.util.function.IntConsumer thenWritten(java.util.function.IntConsumer body, Written written, ConvGeom g, int images, int first) {
        if (written == null) return body;
        int groups = g.groups(), kg = g.kg();
        return task -> {
            body.accept(task);
            int n0 = first + task / groups * images, k0 = task % groups * kg;
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
                Im2col.packed(in, inBase, g, packed);
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
     * of an output plane, which a Winograd route computes in whole vectors into buf (n of its floats wanted). A
     * vector at a time under a mask: one by one it was ~0.5% of a train step's samples and 4.6% of a 3x3 64->64
     * 14x14 forward's (JFR, 1000 calls; with masks, finish and interleave 129 -> 119 samples).
     */
    static void finish(float[] buf, float[] out, int at, int n, float[] res, int ro, boolean relu) {
        FloatVector floor = FloatVector.broadcast(F, relu ? 0f : Float.NEGATIVE_INFINITY);
        for (int i = 0; i < n; i += L) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector v = FloatVector.fromArray(F, buf, i);
            if (res != null) v = v.add(FloatVector.fromArray(F, res, ro + i, m));
            v.max(floor).intoArray(out, at + i, m);
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
        return DataGradient.addsInPlace(g);
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
        new DataGradient(w, wOff, g).images(dIn, dOut, dOff, 0, g.n(), adding);
    }

    /** A conv's output gradient made where it is needed: images [n0, n1) of it, (n1 - n0) K OH OW floats, into dst from 0. */
    @FunctionalInterface
    public interface OutputGradient {
        void images(int n0, int n1, float[] dst);
    }

    /** Makes the planes of images [n0, n1) of a conv's input, just before forwardOfChunks reads them. */
    @FunctionalInterface
    public interface InputImages {
        void make(int n0, int n1);
    }

    /**
     * True when {@link #forwardOfChunks} takes layer g: a Winograd layer (its forward runs for any range of images, see
     * WinogradConv.forwardImages), with a chunk for every thread.
     */
    public static boolean forwardTakesChunks(ConvGeom g) {
        return WinogradConv.applies(g) && g.n() / WinogradConv.imagesPerChunk(g) >= Parallel.threads();
    }

    /**
     * forward(out, in, ...) of layer g chunk by chunk of images (where forwardTakesChunks(g)), each chunk's input planes
     * made by input just before the conv reads them: the op before the conv (a batch norm and ReLU) writes its output
     * and the conv reads it from cache, not from memory. Each chunk is one of the whole-batch forward's tasks, so these
     * are its bits, and written is told of the same planes.
     */
    public static void forwardOfChunks(float[] out, InputImages input, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g,
                                       Written written) {
        if (!forwardTakesChunks(g)) throw new IllegalArgumentException("conv2d forward: this layer does not run chunk by chunk: " + g);
        float[] u = WinogradConv.packed(w, wOff, g);
        int images = WinogradConv.imagesPerChunk(g), chunks = (g.n() + images - 1) / images;
        run(chunks, c -> {
            int n0 = c * images, n1 = Math.min(g.n(), n0 + images);
            input.make(n0, n1);
            WinogradConv.forwardImages(out, in, inOff, u, bias, bOff, g, false, null, 0, written, n0, n1);
        });
    }

    /**
     * True when {@link #backwardOfChunks} takes layer g: one group, not depthwise, an input gradient for any range of images,
     * and a chunk for every thread (with fewer images, the whole-batch routes run their products in parallel instead).
     */
    public static boolean takesChunks(ConvGeom g) {
        return g.groups() == 1 && !DepthwiseKernels.applies(g) && DataGradient.takesRanges(g) && WeightGradient.chunks(g) >= Parallel.threads();
    }

    /**
     * backwardData (where dIn is not null; adding as there) and backwardWeight (where dW is not null) of layer g in one
     * pass over the weight gradient's chunks of images (where takesChunks(g)): each chunk's output gradient is made by
     * dOut into this thread's scratch and read by both from there, while it is in cache. The op after a conv (batch
     * norm) thus hands it its gradient without writing a tensor of it to memory and reading that back twice. Every
     * image's input gradient and every chunk's sum is the one of the whole-batch calls, so these are their bits.
     */
    public static void backwardOfChunks(float[] dIn, boolean adding, float[] dW, OutputGradient dOut, float[] w, int wOff, float[] in, int inOff,
                                        ConvGeom g) {
        backwardOfChunks(dIn, adding, dW, dOut, w, wOff, in, inOff, g, null);
    }

    /** Tells that the input gradient of images [n0, n1) is made (in backwardOfChunks' dIn), while it is in cache. */
    @FunctionalInterface
    public interface InputGradientMade {
        void images(int n0, int n1);
    }

    /**
     * backwardOfChunks, made (where not null, with dIn made and not added to) told of each chunk's input gradient as
     * soon as it is made: the batch norm before the conv takes its gradient sums from there (NormOps).
     */
    public static void backwardOfChunks(float[] dIn, boolean adding, float[] dW, OutputGradient dOut, float[] w, int wOff, float[] in, int inOff,
                                        ConvGeom g, InputGradientMade made) {
        if (!takesChunks(g) || adding && !addsInputGradient(g)) throw new IllegalArgumentException("conv2d backward: this layer does not run chunk by chunk: " + g);
        if (made != null && (dIn == null || adding)) throw new IllegalArgumentException("conv2d backward: only an input gradient made whole here is told of");
        DataGradient data = dIn == null ? null : new DataGradient(w, wOff, g);
        ofChunks(data == null ? null : (d, dOff, n0, n1) -> {
            data.images(dIn, d, dOff, n0, n1, adding);
            if (made != null) made.images(n0, n1);
        }, dW == null ? null : new WeightGradient(g, in, inOff, null), dW, dOut, g);
    }

    /** The input gradient of images [n0, n1) from the output gradient in d (image n's at dOff + n K OH OW). */
    @FunctionalInterface
    interface ImagesGradient {
        void images(float[] d, int dOff, int n0, int n1);
    }

    /** Per thread: a chunk's output gradient. */
    private static final ThreadLocal<float[][]> CHUNK = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    /** backwardOfChunks' loop: data (or null) and weights' task (or null, one group) for each chunk, its gradient made just before. */
    static void ofChunks(ImagesGradient data, WeightGradient weights, float[] dW, OutputGradient dOut, ConvGeom g) {
        int chunks = WeightGradient.chunks(g), image = g.k() * g.ohw();
        Parallel.forEach(chunks, c -> {
            int n0 = WeightGradient.firstImage(c, g.n(), chunks), n1 = WeightGradient.firstImage(c + 1, g.n(), chunks);
            float[] d = Parallel.grow(CHUNK.get(), 0, (n1 - n0) * image + L);
            dOut.images(n0, n1, d);
            int dOff = -n0 * image; // image n at dOff + n K OH OW, as in the layer's own dOut
            if (data != null) data.images(d, dOff, n0, n1);
            if (weights != null) weights.task(c, d, dOff);
        });
        if (weights != null) weights.finish(dW);
    }

    /** dW (K,C/g,R,S), overwritten, from dOut and the input: sum over images of dOut_n . im2col(in_n)^T. */
    public static void backwardWeight(float[] dW, float[] dOut, int dOff, float[] in, int inOff, ConvGeom g) {
        backwardWeight(dW, dOut, dOff, in, inOff, null, g);
    }

    /** As above, the input being parts joined along channels (where PointwiseParts.applies(g)): each image's product made part by part. */
    public static void backwardWeight(float[] dW, float[] dOut, int dOff, PointwiseParts.Parts parts, ConvGeom g) {
        if (!PointwiseParts.applies(g)) throw new IllegalArgumentException("conv2d backward: parts need a pointwise layer, not " + g);
        PointwiseParts.checkNoneResized(parts);
        backwardWeight(dW, dOut, dOff, null, 0, parts, g);
    }

    private static void backwardWeight(float[] dW, float[] dOut, int dOff, float[] in, int inOff, PointwiseParts.Parts parts, ConvGeom g) {
        if (DepthwiseKernels.applies(g)) {
            DepthwiseKernels.backwardWeight(dW, dOut, dOff, in, inOff, g);
            return;
        }
        WeightGradient wg = new WeightGradient(g, in, inOff, parts);
        Parallel.forEach(wg.tasks(), t -> wg.task(t, dOut, dOff));
        wg.finish(dW);
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
