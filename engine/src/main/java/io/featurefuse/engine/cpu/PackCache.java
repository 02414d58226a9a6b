package io.featurefuse.engine.cpu;

import io.featurefuse.engine.GradMode;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Iterator;
import java.util.function.Supplier;

/**
 * Convolution weights packed (or Winograd-transformed) for a kernel, kept between calls without
 * recording and found again by what they were made from: the kind of packing, the numbers that
 * shape it, and the weights' values, compared in full (a few microseconds for 64 x 64 x 3 x 3;
 * a weight changed in place is then never served stale). Inference calls a layer again and again
 * with the same weights, and each of Inference.run's chunks is such a call: single-threaded, the
 * reference model's forward spent ~1 ms a call on fixed work (2.0 ms at 2 images, 4.7 at 8),
 * mostly weight transforms and BN folding (with the cache: 1.4 ms at 2 images), and the
 * transforms made about a quarter of its garbage.
 *
 * <p>While recording (training) weights change every step, so nothing is kept: a copy per call
 * would only add memory; nor for backward's own convolutions (see {@link #bypassed}). The packed
 * arrays handed out are shared and must only be read.
 */
final class PackCache {
    /** Bytes of sources and packings kept at most; the entry used longest ago goes first. */
    private static final long BUDGET = 16L << 20;

    private record Entry(String kind, int[] shape, float[] source, float[] packed) {
        long bytes() {
            return 4L * (source.length + packed.length);
        }
    }

    /** Most recently used first. */
    private static final ArrayDeque<Entry> ENTRIES = new ArrayDeque<>();
    private static long bytes;

    private PackCache() {}

    /**
     * The packing of w[wOff, wOff + len) that pack makes, from the cache when the same kind and
     * shape were packed from equal values before (without recording), else made now.
     */
    static float[] get(String kind, float[] w, int wOff, int len, Supplier<float[]> pack, int... shape) {
        if (GradMode.isEnabled() || BYPASS.get()) return pack.get();
        synchronized (PackCache.class) {
            for (Iterator<Entry> it = ENTRIES.iterator(); it.hasNext(); ) {
                Entry e = it.next();
                if (e.kind.equals(kind) && Arrays.equals(e.shape, shape) && e.source.length == len
                        && Arrays.equals(e.source, 0, len, w, wOff, wOff + len)) {
                    it.remove();
                    ENTRIES.addFirst(e);
                    return e.packed;
                }
            }
        }
        float[] packed = pack.get();
        Entry e = new Entry(kind, shape.clone(), Arrays.copyOfRange(w, wOff, wOff + len), packed);
        synchronized (PackCache.class) {
            ENTRIES.addFirst(e);
            bytes += e.bytes();
            while (bytes > BUDGET && ENTRIES.size() > 1) bytes -= ENTRIES.removeLast().bytes();
        }
        return packed;
    }

    private static final ThreadLocal<Boolean> BYPASS = ThreadLocal.withInitial(() -> false);

    /**
     * Runs work on this thread with nothing kept: for weights made for one call, such as the
     * flipped weights of backward-data run as a forward convolution (backward runs without
     * recording, so without this every training step would add entries that never match).
     */
    static void bypassed(Runnable work) {
        boolean before = BYPASS.get();
        BYPASS.set(true);
        try {
            work.run();
        } finally {
            BYPASS.set(before);
        }
    }

    /** Entries held now (tests). */
    static synchronized int size() {
        return ENTRIES.size();
    }

    /** Drops everything (tests). */
    static synchronized void clear() {
        ENTRIES.clear();
        bytes = 0;
    }
}
