package io.featurefuse.nn;

import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Tensor;
import io.featurefuse.engine.cpu.Parallel;
import java.util.Arrays;

/**
 * A model's forward pass for inference (no gradients), with the batch split into chunks that run
 * side by side, each chunk through the whole model on one thread. In eval mode every image's
 * output depends on that image alone, and the kernels sum in an order that does not depend on the
 * batch, so the result is the one a single call gives, bit for bit (InferenceTest checks it).
 *
 * <p>The chunks call the same model on several threads at once, so its forward must not keep
 * state from a call (none of this project's modules does; a user module that records its last
 * input, say, would see the chunks race).
 *
 * <p>A run splits only where there is a chunk for every thread and every chunk holds as many
 * images as there are threads (see {@link #run(Module, Tensor, int)}): at least threads squared
 * images, 4 on two threads.
 *
 * <p>Why: one call on the whole batch runs each layer split over the threads, which meet at the
 * end of every layer, and each layer's output for the whole batch (25.7 MB for 32 x 28 x 28 at
 * batch 256) leaves the caches before the next layer reads it. A chunk per thread keeps its
 * activations near that thread's core and never waits for the other threads until the end.
 * Measured on the reference two-stream model (concat) at batch 256, 2 threads, the launcher's
 * heap flags, one JVM, chunk sizes taking turns over 10 rounds (weights packed once, see the
 * engine's PackCache): one call ~3,200-3,300 images/s; chunks of 128 ~3,300-3,570, of 64
 * ~3,430-3,650, of 32 ~3,300-3,575, of 16 ~3,030-3,500 (smaller chunks pay each layer's per-call
 * work, such as folding BN, more often).
 */
public final class Inference {
    /** Images a chunk holds at most (the best size measured, above); a batch takes a multiple of the pool's threads of chunks. */
    static final int MAX_CHUNK = 64;
    /**
     * Images in each of the last round's chunks, one a thread, which run after the full-size ones:
     * a thread slowed by other work on its core then holds up the call by a small chunk rather than
     * a full one. Measured, two-stream model at batch 256, 2 threads (4 chunks of 60 and 2 of 8
     * against 4 of 64), one JVM alternating per call, median of per-call ratios: in minutes when the
     * cores were busy elsewhere +5.0%, +5.6%, with a process taking 4 ms in every 16 on one core
     * +5.6%, quiet -0.1%. Tails of 12 and 16: +4.8-8.5% busy, quiet -2%; of 32, quiet -3.7%.
     */
    static final int TAIL_CHUNK = 8;

    private Inference() {}

    /**
     * model(x) without recording gradients; in eval mode, with at least a thread's worth of
     * images for every chunk, the batch is split as described above. Training mode runs as one
     * call: batch statistics depend on the whole batch.
     */
    public static Tensor run(Module model, Tensor x) {
        int threads = Parallel.threads(), n = x.rank() == 0 ? 0 : x.size(0);
        int chunks = threads * Math.max(1, (n + threads * MAX_CHUNK - 1) / (threads * MAX_CHUNK));
        if (model.isTraining() || threads == 1 || n / chunks < threads || Summary.isObserving()) {
            try (var off = GradMode.off()) {
                return model.call(x);
            }
        }
        return run(model, x, chunks);
    }

    /**
     * Where the chunks of n images start, and n at the end: {@code chunks} equal chunks (min(chunks,
     * n) where n is smaller), and, where those would still be bigger than them, a last round of one
     * chunk a thread of TAIL_CHUNK images (at least {@code threads}) taken off the end.
     */
    static int[] chunkBounds(int n, int chunks, int threads) {
        int tail = Math.max(threads, TAIL_CHUNK), head = n - tail * threads;
        boolean tails = threads > 1 && head >= chunks * (tail + 1);
        int count = tails ? chunks : Math.min(chunks, n), total = tails ? head : n;
        int[] bounds = new int[count + 1 + (tails ? threads : 0)];
        for (int i = 0; i <= count; i++) bounds[i] = (int) ((long) i * total / count);
        if (tails) for (int i = 1; i <= threads; i++) bounds[count + i] = head + i * tail;
        return bounds;
    }

    /**
     * As {@link #run(Module, Tensor)}, in the given number of chunks and a last round of small ones
     * (see chunkBounds), whatever the mode. Chunks hold at least as many images as the pool has
     * threads (callers see to it for the full ones; the small ones are made so): a kernel that picks
     * its route by whether it has a task per thread (ImplicitConv: images x groups) then picks the
     * same one for a chunk as for the whole batch, and sums in the same order.
     */
    static Tensor run(Module model, Tensor x, int chunks) {
        int n = x.size(0);
        int[] bounds = chunkBounds(n, chunks, Parallel.threads());
        int count = bounds.length - 1;
        Tensor[] outs = new Tensor[count];
        // in order: the small last chunks must start last, whichever thread is free then
        Parallel.forEachInOrder(count, i -> {
            int from = bounds[i], to = bounds[i + 1];
            try (var off = GradMode.off()) {
                Tensor y = model.call(x.narrow(0, from, to - from));
                if (y.rank() == 0 || y.size(0) != to - from)
                    throw new IllegalArgumentException("inference: " + model.getClass().getSimpleName() + " gave " + y.shape() + " for "
                            + (to - from) + " images; a chunked run needs one output row per image");
                outs[i] = y;
            }
        });
        if (count == 1) return outs[0];
        Tensor y = Tensor.concat(Arrays.asList(outs), 0);
        for (Tensor o : outs) o.recycle();
        return y;
    }
}
