package io.featurefuse.engine;

import java.lang.ref.ReferenceQueue;
import java.lang.ref.SoftReference;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
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
 * at most {@link #capacityBytes()} in all (60% of the heap: at a step's peak the pool is empty and
 * its arrays are the live activations, so the two share that memory. The two-stream reference
 * step at batch 128 leaves 322-327 MB in seven size classes; at half of the launcher's 600 MB heap
 * the pool was 8 MB short, dropped the 9.6 MB class every step and two of its arrays came fresh
 * from the heap each step: 42 of the 71 MB/s that steady training allocated); when full, the size class
 * used longest ago is dropped, and a request the pool cannot serve first drops the size classes
 * of work that has finished. Pooled arrays are held softly: when the heap runs short (the next
 * model of a comparison, with other shapes) the collector takes them back before it would throw
 * OutOfMemoryError. Thread-safe: tensors are made on the caller's thread and on data-loading threads.
 */
final class BufferPool {
    private BufferPool() {}

    static final int MIN_ELEMENTS = 1 << 14;
    private static final long CAPACITY = Long.getLong("featurefuse.pool.bytes", Runtime.getRuntime().maxMemory() / 10 * 6);
    /** A size class not asked for or given back in this many pool operations (several training steps) belongs to finished work. */
    private static final long STALE_OPS = 4096;

    /** A pooled array, softly held; counted while its bytes are in {@link #bytes}. */
    private static final class Pooled extends SoftReference<Object> {
        final long size;
        boolean counted = true;

        Pooled(Object array, long size) {
            super(array, CLEARED);
            this.size = size;
        }
    }

    private static final class SizeClass {
        final ArrayDeque<Pooled> arrays = new ArrayDeque<>();
        long lastUse;
    }

    private static final ReferenceQueue<Object> CLEARED = new ReferenceQueue<>();
    /** Keyed by element type and count: floats, doubles and ints apart (see {@link #key}). */
    private static final Map<Long, SizeClass> CLASSES = new HashMap<>();
    private static final long FLOATS = 0, DOUBLES = 1, INTS = 2;
    private static long bytes;
    private static long tick;
    private static long reused;
    private static long misses;

    static long capacityBytes() {
        return CAPACITY;
    }

    /**
     * Tests set featurefuse.poison: then every array handed out for overwriting is filled with NaN
     * first, so a kernel that leaves an element unwritten fails its property test instead of
     * showing whatever the array held before (old arrays are reused only above MIN_ELEMENTS,
     * which most test shapes are not); and every array given back is filled so too, so a reader
     * of a buffer already given back (a gradient still needed later) reads NaN, not its values.
     */
    private static final boolean POISON = Boolean.getBoolean("featurefuse.poison");

    /** A float array of length n whose contents the caller overwrites entirely: a pooled one is not zeroed first. */
    static float[] floatsToOverwrite(int n) {
        float[] a = n >= MIN_ELEMENTS ? (float[]) take(key(FLOATS, n)) : null;
        if (a == null) a = new float[n];
        if (POISON) java.util.Arrays.fill(a, Float.NaN);
        return a;
    }

    /** As {@link #floatsToOverwrite} for doubles. */
    static double[] doublesToOverwrite(int n) {
        double[] a = n >= MIN_ELEMENTS ? (double[]) take(key(DOUBLES, n)) : null;
        if (a == null) a = new double[n];
        if (POISON) java.util.Arrays.fill(a, Double.NaN);
        return a;
    }

    /** A zeroed float array of length n, reused when one is pooled. */
    static float[] floats(int n) {
        if (n >= MIN_ELEMENTS) {
            float[] a = (float[]) take(key(FLOATS, n));
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
            double[] a = (double[]) take(key(DOUBLES, n));
            if (a != null) {
                java.util.Arrays.fill(a, 0.0);
                return a;
            }
        }
        return new double[n];
    }

    /** An int array of length n whose contents the caller overwrites entirely (max pooling's argmax, saved for backward). */
    static int[] intsToOverwrite(int n) {
        int[] a = n >= MIN_ELEMENTS ? (int[]) take(key(INTS, n)) : null;
        if (a == null) a = new int[n];
        if (POISON) java.util.Arrays.fill(a, Integer.MIN_VALUE);
        return a;
    }

    static void give(float[] a) {
        if (a.length < MIN_ELEMENTS) return;
        if (POISON) java.util.Arrays.fill(a, Float.NaN);
        put(key(FLOATS, a.length), a, 4L * a.length);
    }

    static void give(double[] a) {
        if (a.length < MIN_ELEMENTS) return;
        if (POISON) java.util.Arrays.fill(a, Double.NaN);
        put(key(DOUBLES, a.length), a, 8L * a.length);
    }

    static void give(int[] a) {
        if (a.length < MIN_ELEMENTS) return;
        if (POISON) java.util.Arrays.fill(a, Integer.MIN_VALUE);
        put(key(INTS, a.length), a, 4L * a.length);
    }

    private static long key(long type, int n) {
        return type << 32 | n;
    }

    private static synchronized Object take(long key) {
        forgetCleared();
        tick++;
        SizeClass c = CLASSES.get(key);
        while (c != null && !c.arrays.isEmpty()) {
            Pooled p = c.arrays.pop();
            uncount(p);
            Object a = p.get();
            if (a != null) {
                c.lastUse = tick;
                reused++;
                return a;
            }
        }
        misses++;
        dropStale();
        return null;
    }

    private static synchronized void put(long key, Object array, long size) {
        forgetCleared();
        if (size > CAPACITY) return;
        while (bytes + size > CAPACITY && dropLeastRecentlyUsed(key)) {}
        if (bytes + size > CAPACITY) return;
        SizeClass c = CLASSES.computeIfAbsent(key, k -> new SizeClass());
        c.lastUse = ++tick;
        c.arrays.push(new Pooled(array, size));
        bytes += size;
    }

    private static void uncount(Pooled p) {
        if (p.counted) {
            bytes -= p.size;
            p.counted = false;
        }
    }

    /** Arrays the collector took back no longer count against the capacity. */
    private static void forgetCleared() {
        for (var r = CLEARED.poll(); r != null; r = CLEARED.poll()) uncount((Pooled) r);
    }

    private static void dropStale() {
        for (Iterator<SizeClass> it = CLASSES.values().iterator(); it.hasNext(); ) {
            SizeClass c = it.next();
            if (c.lastUse < tick - STALE_OPS) {
                drop(c);
                it.remove();
            }
        }
    }

    /** Frees the size class (other than keep) used longest ago; false when there is none. */
    private static boolean dropLeastRecentlyUsed(long keep) {
        Long oldest = null;
        long oldestUse = Long.MAX_VALUE;
        for (var e : CLASSES.entrySet()) {
            if (e.getKey() == keep || e.getValue().arrays.isEmpty()) continue;
            if (e.getValue().lastUse < oldestUse) {
                oldestUse = e.getValue().lastUse;
                oldest = e.getKey();
            }
        }
        if (oldest == null) return false;
        drop(CLASSES.remove(oldest));
        return true;
    }

    private static void drop(SizeClass c) {
        for (Pooled p : c.arrays) {
            uncount(p);
            p.clear();
        }
        c.arrays.clear();
    }

    /** Bytes held now (arrays the collector has taken back but not yet reported may still count). */
    static synchronized long pooledBytes() {
        forgetCleared();
        return bytes;
    }

    /** How many arrays were lent out again so far (for tests and benchmarks). */
    static synchronized long reusedCount() {
        return reused;
    }

    /** How many requests of a pooled size found no array to lend (for tests: steady-state training should make none). */
    static synchronized long missCount() {
        return misses;
    }

    /** Drops everything pooled (tests; or to give memory back between unrelated workloads). */
    static synchronized void clear() {
        CLASSES.values().forEach(BufferPool::drop);
        CLASSES.clear();
    }
}
