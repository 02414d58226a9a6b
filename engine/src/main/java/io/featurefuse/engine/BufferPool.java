package io.featurefuse.engine;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Arrays handed back by {@link Tensor#backwardAndRecycle()} (activations) and by backward itself
 * (gradients nobody can see any more), lent out again to tensors of the same length. A training
 * step makes the same tensors every step, so after the first one its big buffers come from here
 * instead of the heap: no zeroing of fresh pages by the JVM, no humongous allocations that make
 * G1 start a marking cycle every few steps (measured: ~470 such pauses in 20 s of two-stream
 * training before this pool).
 *
 * <p>Only arrays of at least {@link #MIN_ELEMENTS} are kept (small ones are cheap for the GC), and
 * at most {@link #capacityBytes()} in all (half the heap: at a step's peak the pool is empty and
 * its arrays are the live activations, so the two share that memory); when full, the size class
 * used longest ago is dropped, and a request the pool cannot serve first drops the size classes
 * of work that has finished, so that they do not hold heap the new work needs.
 * Thread-safe: tensors are made on the caller's thread and on data-loading threads.
 */
final class BufferPool {
    private BufferPool() {}

    static final int MIN_ELEMENTS = 1 << 14;
    private static final long CAPACITY = Long.getLong("featurefuse.pool.bytes", Runtime.getRuntime().maxMemory() / 2);
    /** A size class not asked for or given back in this many pool operations (several training steps) belongs to finished work. */
    private static final long STALE_OPS = 4096;

    private static final class SizeClass {
        final ArrayDeque<Object> arrays = new ArrayDeque<>();
        long lastUse;
    }

    /** Keyed by element count, floats and doubles apart (a negative key for doubles). */
    private static final Map<Integer, SizeClass> CLASSES = new HashMap<>();
    private static long bytes;
    private static long tick;
    private static long reused;

    static long capacityBytes() {
        return CAPACITY;
    }

    /** A zeroed float array of length n, reused when one is pooled. */
    static float[] floats(int n) {
        if (n >= MIN_ELEMENTS) {
            float[] a = (float[]) take(n, 4L * n);
            if (a != null) {
                java.util.Arrays.fill(a, 0f);
                return a;
            }
        }
        return new float[n];
    }

    /** A zeroed double array of length n, reused when one is pooled. */
    static double[] doubles(int n) {
        if (n >= MIN_ELEMENTS) {
            double[] a = (double[]) take(-n, 8L * n);
            if (a != null) {
                java.util.Arrays.fill(a, 0.0);
                return a;
            }
        }
        return new double[n];
    }

    static void give(float[] a) {
        if (a.length >= MIN_ELEMENTS) put(a.length, a, 4L * a.length);
    }

    static void give(double[] a) {
        if (a.length >= MIN_ELEMENTS) put(-a.length, a, 8L * a.length);
    }

    private static synchronized Object take(int key, long size) {
        SizeClass c = CLASSES.get(key);
        if (c == null || c.arrays.isEmpty()) {
            tick++;
            CLASSES.entrySet().removeIf(e -> {
                boolean stale = e.getValue().lastUse < tick - STALE_OPS;
                if (stale) bytes -= classBytes(e.getKey(), e.getValue());
                return stale;
            });
            return null;
        }
        c.lastUse = ++tick;
        bytes -= size;
        reused++;
        return c.arrays.pop();
    }

    private static synchronized void put(int key, Object array, long size) {
        if (size > CAPACITY) return;
        while (bytes + size > CAPACITY && dropLeastRecentlyUsed(key)) {}
        if (bytes + size > CAPACITY) return;
        SizeClass c = CLASSES.computeIfAbsent(key, k -> new SizeClass());
        c.lastUse = ++tick;
        c.arrays.push(array);
        bytes += size;
    }

    /** Frees the size class (other than keep) used longest ago; false when there is none. */
    private static boolean dropLeastRecentlyUsed(int keep) {
        Integer oldest = null;
        long oldestUse = Long.MAX_VALUE;
        for (var e : CLASSES.entrySet()) {
            if (e.getKey() == keep || e.getValue().arrays.isEmpty()) continue;
            if (e.getValue().lastUse < oldestUse) {
                oldestUse = e.getValue().lastUse;
                oldest = e.getKey();
            }
        }
        if (oldest == null) return false;
        bytes -= classBytes(oldest, CLASSES.remove(oldest));
        return true;
    }

    private static long classBytes(int key, SizeClass c) {
        return (key < 0 ? 8L : 4L) * Math.abs((long) key) * c.arrays.size();
    }

    /** Bytes held now. */
    static synchronized long pooledBytes() {
        return bytes;
    }

    /** How many arrays were lent out again so far (for tests and benchmarks). */
    static synchronized long reusedCount() {
        return reused;
    }

    /** Drops everything pooled (tests; or to give memory back between unrelated workloads). */
    static synchronized void clear() {
        CLASSES.clear();
        bytes = 0;
    }
}
