package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.fail;

import io.featurefuse.engine.Fused;
import io.featurefuse.engine.ConvOptions;
import io.featurefuse.engine.InterpolationMode;
import io.featurefuse.engine.PoolOptions;
import io.featurefuse.engine.Tensor;
import java.lang.management.ManagementFactory;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Hot kernels, once C2 has compiled them, allocate (almost) nothing. Where C2 keeps a vector as
 * an object (an intrinsic that failed, a helper it did not inline), every vector operation
 * allocates one, ~100 bytes, and a training step makes tens of MB of garbage: PackedB's
 * transposed packing, with its masked stores in a helper, did that on every run (C2 reached its
 * node cutoff before inlining the helper). Each case runs its kernel until its allocations per
 * call settle below LIMIT (compilation takes a few seconds) and fails if they never do.
 * Allocations are counted over all threads, since the kernels may run on the pool.
 */
class SteadyStateAllocationTest {
    /** Bytes a call may allocate: per-call bookkeeping only. A boxed kernel here makes hundreds of KB. */
    private static final long LIMIT = 4096;
    private static final long DEADLINE_NANOS = 30_000_000_000L;

    private static final com.sun.management.ThreadMXBean THREADS = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    @Test
    void gemmDoesNotAllocate() {
        int m = 96, n = 80, k = 72;
        float[] a = random(m * k, 1), b = random(k * n, 2), c = new float[m * n];
        settles("sgemm", () -> Gemm.sgemm(1, m, n, k, a, 0, 0, false, k, b, 0, 0, false, n, c, 0, 0, n));
        settles("sgemm, A transposed", () -> Gemm.sgemm(1, m, n, k, a, 0, 0, true, m, b, 0, 0, false, n, c, 0, 0, n));
        settles("sgemm, B transposed", () -> Gemm.sgemm(1, m, n, k, a, 0, 0, false, k, b, 0, 0, true, k, c, 0, 0, n));
    }

    @Test
    void gemmOverRowsDoesNotAllocate() {
        int m = 96, n = 80, k = 72;
        float[] a = random(m * k + 8, 3), b = random(k * n, 4), c = new float[m * n];
        int[] rows = new int[m];
        for (int i = 0; i < m; i++) rows[i] = (i * 37) % m * k + i % 8; // shifted rows, as an implicit im2col reads them
        settles("sgemmRows", () -> Gemm.sgemmRows(m, n, k, a, 0, rows, b, 0, false, n, c, 0, n));
        settles("sgemmRows, B transposed", () -> Gemm.sgemmRows(m, n, k, a, 0, rows, b, 0, true, k, c, 0, n));
    }

    @Test
    void bilinearBackwardDoesNotAllocateBeyondItsTables() {
        // 7x7 -> 14x14, the fusion aligner's upsampling: the x pass runs as gathers (ResizeKernels.Gathers)
        int planes = 64;
        var ay = ResizeKernels.bilinear(7, 14, false, 0, true);
        var ax = ResizeKernels.bilinear(7, 14, false, 0, true);
        float[] dOut = random(planes * 14 * 14, 5), dIn = new float[planes * 7 * 7];
        // its per-call tables (~3 KB) are allowed; boxed, its vectors would make ~300 KB a call
        settles("bilinear backward", 4 * LIMIT, () -> ResizeKernels.backward(dIn, dOut, 0, planes, planes * 14 * 14, planes, ay, ax));
    }

    /**
     * The reference model's kinds of op in one training step, forward and backward, buffers
     * handed back as the trainer does: 3x3 convolutions (stride 1 and 2), BN + ReLU, max pooling,
     * a 1x1 convolution, bilinear upsampling and a sum. Each step makes ~350 KB (JFR: weights
     * packed or flipped per call, resize tables, tensors and autograd nodes); a boxed kernel in it
     * adds MBs (the bilinear backward's gathers alone ~2 MB).
     */
    @Test
    void aTrainingStepSettles() {
        var rng = new Random(6);
        Tensor x = Tensor.randn(rng, 16, 32, 14, 14);
        Tensor w1 = Tensor.randn(rng, 32, 32, 3, 3).requiresGrad(true), w2 = Tensor.randn(rng, 32, 32, 3, 3).requiresGrad(true);
        Tensor w3 = Tensor.randn(rng, 32, 32, 1, 1).requiresGrad(true);
        Tensor mean = Tensor.zeros(32), var = Tensor.ones(32);
        settles("training step", 256 * LIMIT, () -> {
            Tensor h = Fused.batchNormRelu(x.conv2d(w1, null, ConvOptions.of(1, 1)), mean, var, null, null, true, 0.1, 1e-5);
            Tensor down = h.conv2d(w2, null, ConvOptions.of(2, 1)).add(h.maxPool2d(PoolOptions.of(2)).conv2d(w3, null, ConvOptions.defaults()));
            down.interpolate(14, 14, InterpolationMode.BILINEAR, false).add(h).mean().backwardAndRecycle();
        });
    }

    /** Runs call in rounds until a round allocates under the limit a call; fails at the deadline. */
    private static void settles(String what, Runnable call) {
        settles(what, LIMIT, call);
    }

    private static void settles(String what, long limit, Runnable call) {
        long start = System.nanoTime(), perCall = Long.MAX_VALUE;
        while (System.nanoTime() - start < DEADLINE_NANOS) {
            long before = THREADS.getTotalThreadAllocatedBytes();
            for (int i = 0; i < 200; i++) call.run();
            perCall = (THREADS.getTotalThreadAllocatedBytes() - before) / 200;
            if (perCall < limit) return;
        }
        fail(what + " still allocates " + perCall + " bytes a call after " + DEADLINE_NANOS / 1_000_000_000 + " s of running: some vector is kept as an object");
    }

    private static float[] random(int size, long seed) {
        Random r = new Random(seed);
        float[] x = new float[size];
        for (int i = 0; i < size; i++) x[i] = r.nextFloat() - 0.5f;
        return x;
    }
}
