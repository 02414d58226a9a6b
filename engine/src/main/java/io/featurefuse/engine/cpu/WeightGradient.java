package io.featurefuse.engine.cpu;

/**
 * One call's conv2d weight gradient (groups of any count, not depthwise): the sum over images of
 * dOut_n . im2col(in_n)^T, in a fixed number of chunks of images, each chunk's images summed in
 * order by one task, then the chunks summed in order per element, so the result is the same for
 * any thread count. Tasks are (chunk, group); {@link Conv2dKernels#backwardWeight} runs them all
 * in parallel, and {@link Conv2dKernels#backwardOfChunks} one chunk at a time, each right after
 * that chunk's output gradient is made. The routes per chunk: tap by tap ({@link FewTapsWeightGrad}),
 * in the Winograd domain ({@link WinogradWeightGrad}, {@link WinogradF4WeightGrad}), a pointwise
 * layer's parts ({@link PointwiseParts}), the implicit GEMM ({@link ImplicitConv}), im2col + GEMM.
 */
final class WeightGradient {
    /**
     * Images per chunk are fixed by this count, not by the thread count, so sums are the same on
     * any machine. It was 8: on a 16-thread host that left the outer loop serial (fewer tasks than
     * threads) and training got slower from 8 to 16 threads (833 -> 657 img/s).
     */
    private static final int CHUNKS = 64;
    /** Where chunk 0's partial sums start in PARTIAL: on a cache line (see LineArrays). */
    private static final int P = Simd.LINE_START;
    /** The calling thread's partial sums, one block per chunk. */
    private static final ThreadLocal<float[]> PARTIAL = ThreadLocal.withInitial(() -> new float[0]);
    /**
     * Per thread: im2col columns, and one image's weight gradient (crs x kg) before it joins its
     * chunk's sum (a fresh array per task was ~45 MB/s of the train step's allocations, JFR).
     */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0]});

    private final ConvGeom g;
    private final float[] in;
    private final int inOff;
    private final PointwiseParts.Parts parts;
    private final boolean fewTaps, winograd, f4;
    private final int size, chunks;
    private final ImplicitConv.Layout lay;
    private final float[] partial;

    /** For conv g over in (from inOff), or over parts joined along channels (in null; where PointwiseParts.applies(g)). */
    WeightGradient(ConvGeom g, float[] in, int inOff, PointwiseParts.Parts parts) {
        this.g = g;
        this.in = in;
        this.inOff = inOff;
        this.parts = parts;
        chunks = chunks(g);
        winograd = WinogradConv.applies(g);
        f4 = winograd && WinogradF4.better(g);
        size = f4 ? WinogradF4WeightGrad.partialSize(g) : winograd ? WinogradWeightGrad.partialSize(g) : g.k() * g.crs();
        // Partial sums per chunk in transposed layout, dW_g^T (crs x kg): the GEMM then reads the
        // im2col matrix row by row as its A and packs only dOut^T (kg x ohw) as B, instead of
        // gathering the whole im2col matrix column-wise into B. (Winograd layers keep their dU there
        // instead, see WinogradWeightGrad.partialSize.)
        // Reused across calls (a fresh 64-chunk buffer would be a humongous allocation per layer and
        // step); the first image of each chunk overwrites its part, so it needs no zeroing.
        float[] held = PARTIAL.get();
        if (held.length < P + (long) chunks * size) PARTIAL.set(held = LineArrays.of(chunks * size));
        partial = held;
        fewTaps = Conv2dKernels.weightGradientByTaps(g);
        lay = !fewTaps && !Conv2dKernels.direct(g) && ImplicitConv.appliesToWeights(g) ? ImplicitConv.Layout.of(g) : null;
    }

    /** The chunks of images of layer g's weight gradient. */
    static int chunks(ConvGeom g) {
        return Math.min(g.n(), CHUNKS);
    }

    /** The first image of chunk c of n images in chunks (c = chunks: n). */
    static int firstImage(int c, int n, int chunks) {
        return (int) ((long) c * n / chunks);
    }

    /** Tasks to run: a (chunk, group) each. */
    int tasks() {
        return chunks * g.groups();
    }

    /** Task t: chunk t / groups of group t % groups, its images' dOut read at dOff + (n K + k) OH OW as the layer's own. */
    void task(int t, float[] dOut, int dOff) {
        task(t, dOut, dOff, null, 0);
    }

    /** As above, the resized parts' output gradients in z (image n at zOff + n Parts.resizedImage; see PointwiseParts.backwardOfChunks). */
    void task(int t, float[] dOut, int dOff, float[] z, int zOff) {
        int groups = g.groups(), kg = g.kg(), crs = g.crs(), ohw = g.ohw(), hw = g.h() * g.w();
        int chunk = t / groups, grp = t % groups;
        int n0 = firstImage(chunk, g.n(), chunks), n1 = firstImage(chunk + 1, g.n(), chunks);
        if (fewTaps) {
            FewTapsWeightGrad.sumImages(dOut, dOff, in, inOff, g, n0, n1, grp, partial, P + chunk * size + grp * kg * crs);
            return;
        }
        if (f4) {
            WinogradF4WeightGrad.sumImages(dOut, dOff, in, inOff, g, n0, n1, grp, partial, P + chunk * size + grp * (size / groups));
            return;
        }
        if (winograd) {
            WinogradWeightGrad.sumImages(dOut, dOff, in, inOff, g, n0, n1, grp, partial, P + chunk * size + grp * (size / groups));
            return;
        }
        float[][] scratch = SCRATCH.get();
        float[] tmp = Parallel.grow(scratch, 1, crs * kg);
        int pOff = P + chunk * size + grp * kg * crs;
        for (int n = n0; n < n1; n++) {
            if (parts != null) {
                PointwiseParts.weightProductOfImage(parts, n, dOut, dOff, z, zOff, g, tmp);
            } else if (lay != null) {
                ImplicitConv.weightGradientOfImage(dOut, dOff, in, inOff, g, lay, n, grp, tmp);
            } else {
                int inBase = inOff + (n * g.c() + grp * g.cg()) * hw;
                float[] col = in;
                int colOff = inBase;
                if (!Conv2dKernels.direct(g)) { // else the input itself is the im2col matrix
                    col = Parallel.grow(scratch, 0, crs * ohw);
                    colOff = 0;
                    Im2col.matrix(in, inBase, g, col);
                }
                // tmp (crs x kg) = col (crs x ohw) . dOut_n,g^T (ohw x kg)
                Gemm.sgemm(1, crs, kg, ohw, col, colOff, 0, false, ohw, dOut, dOff + (n * g.k() + grp * kg) * ohw, 0, true, ohw, tmp, 0, 0, kg);
            }
            if (n == n0) System.arraycopy(tmp, 0, partial, pOff, kg * crs);
            else Conv2dKernels.addInto(partial, pOff, tmp, 0, kg * crs);
        }
    }

    /** dW (K,C/g,R,S), overwritten, once every task has run: chunks summed in order per element, in parallel over element blocks. */
    void finish(float[] dW) {
        int block = 4096, blocks = (size + block - 1) / block;
        Parallel.forEach(blocks, b -> {
            int from = b * block, len = Math.min(block, size - from);
            for (int chunk = 1; chunk < chunks; chunk++) Conv2dKernels.addInto(partial, P + from, partial, P + chunk * size + from, len);
        });
        if (f4) {
            WinogradF4WeightGrad.toWeights(partial, P, g, dW);
            return;
        }
        if (winograd) {
            WinogradWeightGrad.toWeights(partial, P, g, dW);
            return;
        }
        int groups = g.groups(), kg = g.kg(), crs = g.crs();
        for (int grp = 0; grp < groups; grp++)
            for (int kk = 0; kk < crs; kk++)
                for (int k = 0; k < kg; k++) dW[(grp * kg + k) * crs + kk] = partial[P + grp * kg * crs + kk * kg + k];
    }
}
