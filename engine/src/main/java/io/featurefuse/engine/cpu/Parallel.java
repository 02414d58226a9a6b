package io.featurefuse.engine.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;

/**
 * The engine's one thread pool. Sized to the cores, or to {@code -Dfeaturefuse.threads=N}, or to
 * the environment variable {@code FEATUREFUSE_THREADS}. Threads are started once; a parallel loop
 * wakes them, the caller works too, and tasks are claimed from a shared counter so a core that is
 * busy elsewhere simply takes fewer tasks. Each task writes its own part of the output with a
 * fixed inner order, so results do not depend on which thread ran which task.
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
            Thread t = new Thread(Parallel::workerLoop, "featurefuse-worker-" + (i + 1));
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
        if (tasks <= 0) return;
        if (tasks == 1 || THREADS == 1 || IN_WORKER.get() || !CALLER.tryLock()) {
            for (int i = 0; i < tasks; i++) body.accept(i);
            return;
        }
        try {
            Job job = new Job(body, tasks, whileWaiting);
            IN_WORKER.set(true);
            current = job;
            generation++;
            for (Thread w : WORKERS) LockSupport.unpark(w);
            job.work();
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

    private static void workerLoop() {
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
            if (job != null) job.work();
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

    private static final class Job {
        final IntConsumer body;
        final int tasks;
        final BooleanSupplier whileWaiting;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        /** Threads inside the whileWaiting loop. */
        final AtomicInteger waiting = new AtomicInteger();
        volatile Throwable failure;

        Job(IntConsumer body, int tasks, BooleanSupplier whileWaiting) {
            this.body = body;
            this.tasks = tasks;
            this.whileWaiting = whileWaiting;
        }

        void work() {
            int i;
            while ((i = next.getAndIncrement()) < tasks) {
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
