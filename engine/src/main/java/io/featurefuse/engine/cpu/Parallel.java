package io.featurefuse.engine.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;

/**
 * The engine's one thread pool. Sized to the cores, or to {@code -Dfeaturefuse.threads=N}, or to
 * the environment variable {@code FEATUREFUSE_THREADS}. Threads are started once; a parallel loop
 * wakes them, the caller works too. Each thread owns a contiguous share of a loop's tasks (see
 * {@link #shareOf}) and claims them in order from its own counter, then claims what is left of
 * the other shares, so a core that is busy elsewhere simply ends up running fewer tasks. Each task
 * writes its own part of the output with a fixed inner order, so results do not depend on which
 * thread ran which task.
 *
 * <p>Why shares: the ops of a training step mostly split the batch the same way (tasks by image,
 * or by planes in image order), so with shares a thread works on the same images from one op to
 * the next and finds their activations in its own core's caches. From one shared counter the
 * threads took tasks in turn and the images changed cores from op to op. Measured, reference
 * two-stream model, train step at batch 128, two threads, one JVM alternating the two per 4 steps
 * (median of 40 per-pair ratios): +4.5%, +4.8% (+4.0% to +5.5% in eight runs of the variants on
 * the way, with Gemm's phase or Inference's order the other way); with each thread's own counter
 * but tasks dealt round-robin (thread t: t, t + 2, ...) only +0.9%, +1.1%, so most of it is the
 * locality, not the counter's cache line. Square SGEMM (same way, per call): n = 256 +4.5%, 512 +1.7%,
 * 1024 +0.8%, 2048 -0.2%. Through fuse bench, jars alternating (2 and 4 pairs, best GFLOP/s or
 * images/s): train step 972-1133 -> 1099-1144, conv5x5 1->32 forward 199-204 -> 279-298,
 * depthwise 3x3 forward 72-78 -> 92-93, sgemm 256 313-320 -> 333-343; inference within noise.
 * Inference, whose tasks are whole chunks of the batch sized to finish together, claims in order
 * ({@link #forEachInOrder}).
 *
 * <p>Parallel loops never nest: a loop started from a worker, or while another caller's loop
 * is running, runs on the calling thread alone.
 */
public final class Parallel {
    private static final int THREADS = configuredThreads();
    /** Iterations a worker spins for the next loop before it parks; keeps back-to-back ops cheap. */
    private static final int SPIN = 20_000;

    private static final ReentrantLock CALLER = new ReentrantLock();
    private static final ThreadLocal<Boolean> IN_WORKER = ThreadLocal.withInitial(() -> false);
    private static final Thread[] WORKERS = new Thread[THREADS - 1];
    private static volatile Job current;
    private static volatile long generation;

    static {
        for (int i = 0; i < WORKERS.length; i++) {
            int self = i + 1;
            Thread t = new Thread(() -> workerLoop(self), "featurefuse-worker-" + self);
            t.setDaemon(true);
            WORKERS[i] = t;
            t.start();
        }
    }

    private Parallel() {}

    /** Number of threads parallel loops use, the caller included. */
    public static int threads() {
        return THREADS;
    }

    /**
     * Runs {@code body.accept(i)} for every i in [0, tasks), spread over the pool, and returns
     * when all are done. The first exception thrown by a task is rethrown here.
     */
    public static void forEach(int tasks, IntConsumer body) {
        forEach(tasks, body, null);
    }

    /**
     * As {@link #forEach(int, IntConsumer)}, and a thread that finds no task left to start calls
     * {@code whileWaiting} (when not null) until every task is done: for tasks that hand parts of
     * their work to such threads (Gemm's panel sweeps). It returns whether it found work; when it
     * did not, the thread pauses a moment before asking again. What it throws is rethrown here, as
     * a task's failure is.
     */
    public static void forEach(int tasks, IntConsumer body, BooleanSupplier whileWaiting) {
        run(tasks, body, whileWaiting, false);
    }

    /**
     * As {@link #forEach(int, IntConsumer)}, with the tasks started in index order by whichever
     * thread is free, from one counter: for callers that order their tasks on purpose, such as
     * Inference's chunks, whose small last ones must start last (with shares, a thread would start
     * the small chunks of its own share while the other still had a full one to run).
     */
    public static void forEachInOrder(int tasks, IntConsumer body) {
        run(tasks, body, null, true);
    }

    /**
     * The share of {@code tasks} that task belongs to: the index of the thread that claims it first
     * (the caller is 0). Share s is tasks [tasks * s / threads, tasks * (s + 1) / threads). Tasks of
     * different shares run at the same time at the start of a loop; Gemm starts their walks over B
     * at different places by it.
     */
    static int shareOf(int task, int tasks) {
        return shareOf(task, tasks, THREADS);
    }

    static int shareOf(int task, int tasks, int threads) {
        // the last s with shareStart(s) <= task: tasks * s / threads < task + 1
        return (int) (((long) task * threads + threads - 1) / tasks);
    }

    static int shareStart(int share, int tasks, int threads) {
        return (int) ((long) tasks * share / threads);
    }

    private static void run(int tasks, IntConsumer body, BooleanSupplier whileWaiting, boolean inOrder) {
        if (tasks <= 0) return;
        if (tasks == 1 || THREADS == 1 || IN_WORKER.get() || !CALLER.tryLock()) {
            for (int i = 0; i < tasks; i++) body.accept(i);
            return;
        }
        try {
            Job job = new Job(body, tasks, whileWaiting, inOrder);
            IN_WORKER.set(true);
            current = job;
            generation++;
            for (Thread w : WORKERS) LockSupport.unpark(w);
            job.work(0);
            job.awaitDone();
            current = null;
            if (job.failure != null) {
                if (job.failure instanceof RuntimeException re) throw re;
                if (job.failure instanceof Error e) throw e;
                throw new IllegalStateException(job.failure);
            }
        } finally {
            IN_WORKER.set(false);
            CALLER.unlock();
        }
    }

    /** The least work a forRanges task gets, in its callers' unit (about floats read and written). */
    private static final int RANGE_WORK = 8192;
    /** The most forRanges tasks a thread gets: enough to even out a core busy elsewhere. */
    static final int RANGES_PER_THREAD = 8;

    /** A body over a range of items, [from, to). */
    @FunctionalInterface
    public interface Range {
        void run(int from, int to);
    }

    /**
     * body.run over [0, count) in contiguous ranges, spread over the pool: at least RANGE_WORK / work
     * items a range (work: one item's cost, such as a plane's size), and at most RANGES_PER_THREAD
     * ranges a thread. For loops over many small independent items (planes of an element-wise pass),
     * where each task's claim of the shared counter costs a cache line passed between the cores.
     * With ranges of RANGE_WORK alone, a batch norm pass over 128 x 64 x 14 x 14 floats was ~400
     * tasks, and at 2 threads the four batch norm passes of a train step took 34 ms a step against
     * 26 ms on one thread (per-call-site timing); with at most 8 ranges a thread, 19-22 ms.
     */
    public static void forRanges(int count, int work, Range body) {
        int least = Math.max(1, Math.min(count, RANGE_WORK / Math.max(1, work)));
        int per = Math.max(least, (count + RANGES_PER_THREAD * THREADS - 1) / (RANGES_PER_THREAD * THREADS)), tasks = (count + per - 1) / per;
        forEach(tasks, t -> body.run(t * per, Math.min(count, (t + 1) * per)));
    }

    /** A worker's loop; self is its share of every loop's tasks (the caller's is 0). */
    private static void workerLoop(int self) {
        IN_WORKER.set(true);
        long seen = 0;
        while (true) {
            int spins = 0;
            while (generation == seen) {
                if (spins++ < SPIN) Thread.onSpinWait();
                else LockSupport.park();
            }
            seen = generation;
            Job job = current;
            if (job != null) job.work(self);
        }
    }

    /** scratch[slot] (a thread's own scratch arrays), replaced by a bigger array when shorter than size. */
    static float[] grow(float[][] scratch, int slot, int size) {
        if (scratch[slot].length < size) scratch[slot] = new float[size];
        return scratch[slot];
    }

    private static int configuredThreads() {
        String v = System.getProperty("featurefuse.threads");
        String source = "-Dfeaturefuse.threads";
        if (v == null || v.isBlank()) {
            v = System.getenv("FEATUREFUSE_THREADS");
            source = "FEATUREFUSE_THREADS";
        }
        if (v == null || v.isBlank()) return Math.max(1, Runtime.getRuntime().availableProcessors());
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= 1 && n <= 1024) return n;
        } catch (NumberFormatException ignored) {
            // fall through to the message below
        }
        throw new IllegalArgumentException(source + " must be a whole number from 1 to 1024, not '" + v + "'");
    }

    /** Ints between two shares' counters: 64 bytes, so that each sits on a cache line of its own. */
    private static final int COUNTER_STRIDE = 16;

    private static final class Job {
        final IntConsumer body;
        final int tasks;
        final BooleanSupplier whileWaiting;
        /** The next task of each share, COUNTER_STRIDE apart; in order, share 0's counter for all tasks. */
        final AtomicIntegerArray next;
        final int shares;
        final AtomicInteger done = new AtomicInteger();
        /** Threads inside the whileWaiting loop. */
        final AtomicInteger waiting = new AtomicInteger();
        volatile Throwable failure;

        Job(IntConsumer body, int tasks, BooleanSupplier whileWaiting, boolean inOrder) {
            this.body = body;
            this.tasks = tasks;
            this.whileWaiting = whileWaiting;
            this.shares = inOrder ? 1 : THREADS;
            this.next = new AtomicIntegerArray(shares * COUNTER_STRIDE);
            for (int s = 1; s < shares; s++) next.set(s * COUNTER_STRIDE, shareStart(s, tasks, shares));
        }

        /** A task not yet claimed, from the thread's own share first, then from the others' in turn; tasks when none is left. */
        int claim(int self) {
            for (int d = 0; d < shares; d++) {
                int s = (self + d) % shares, end = shareStart(s + 1, tasks, shares);
                // read before the increment: a share run out stays untouched, so no counter can overflow
                if (next.get(s * COUNTER_STRIDE) >= end) continue;
                int i = next.getAndIncrement(s * COUNTER_STRIDE);
                if (i < end) return i;
            }
            return tasks;
        }

        void work(int self) {
            int i;
            while ((i = claim(self)) < tasks) {
                try {
                    if (failure == null) body.accept(i);
                } catch (Throwable t) {
                    if (failure == null) failure = t;
                } finally {
                    done.incrementAndGet();
                }
            }
            if (whileWaiting == null) return;
            // A failure here is the job's failure too: escaping, it would end a worker thread (the
            // pool one short for the rest of the run) and the call would return as if all its work
            // were done, though a Gemm panel the helper held was never finished. The caller waits
            // for the waiting threads as well as the tasks, because the task a helper worked for
            // can end before the helper's failure is recorded.
            waiting.incrementAndGet();
            try {
                while (done.get() < tasks && failure == null)
                    if (!whileWaiting.getAsBoolean()) Thread.onSpinWait();
            } catch (Throwable t) {
                if (failure == null) failure = t;
            } finally {
                waiting.decrementAndGet();
            }
        }

        void awaitDone() {
            int spins = 0;
            while (done.get() < tasks || waiting.get() > 0) {
                if (spins++ < SPIN) Thread.onSpinWait();
                else Thread.yield();
            }
        }
    }
}
