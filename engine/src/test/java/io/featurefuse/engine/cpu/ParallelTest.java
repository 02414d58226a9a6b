package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/** The pool runs every task exactly once, each thread starting on its own share, propagates failures, and never nests. */
class ParallelTest {
    /** Share s is [shareStart(s), shareStart(s + 1)), and shareOf names the share each task lies in. */
    @Test
    void sharesSplitTheTasksIntoContiguousRuns() {
        for (int threads = 1; threads <= 9; threads++)
            for (int tasks = 1; tasks <= 60; tasks++) {
                assertEquals(0, Parallel.shareStart(0, tasks, threads));
                assertEquals(tasks, Parallel.shareStart(threads, tasks, threads));
                for (int t = 0; t < tasks; t++) {
                    int s = Parallel.shareOf(t, tasks, threads);
                    assertTrue(s >= 0 && s < threads, "task " + t + " of " + tasks + " in share " + s + " of " + threads);
                    assertTrue(Parallel.shareStart(s, tasks, threads) <= t && t < Parallel.shareStart(s + 1, tasks, threads),
                            "task " + t + " of " + tasks + " is not in share " + s + " of " + threads);
                }
            }
    }

    /**
     * The first task each thread runs, when each holds on in it until all threads have one (so none
     * can take another's): with shares, the first of each share; in order, tasks 0 to threads - 1.
     */
    private static Set<Integer> firstTasks(int tasks, boolean inOrder) {
        int threads = Parallel.threads();
        CyclicBarrier all = new CyclicBarrier(threads);
        Map<Thread, Integer> first = new ConcurrentHashMap<>();
        AtomicIntegerArray hits = new AtomicIntegerArray(tasks);
        java.util.function.IntConsumer body = i -> {
            hits.incrementAndGet(i);
            if (first.putIfAbsent(Thread.currentThread(), i) != null) return;
            try {
                all.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException | BrokenBarrierException | TimeoutException e) {
                throw new AssertionError("the pool's threads did not each start a task", e);
            }
        };
        if (inOrder) Parallel.forEachInOrder(tasks, body);
        else Parallel.forEach(tasks, body);
        for (int i = 0; i < tasks; i++) assertEquals(1, hits.get(i));
        assertEquals(threads, first.size());
        return new TreeSet<>(first.values());
    }

    @Test
    void eachThreadStartsOnItsOwnShare() {
        assumeTrue(Parallel.threads() > 1, "one thread: the caller's share is all the tasks");
        int threads = Parallel.threads();
        for (int tasks : new int[] {threads, 3 * threads, 3 * threads + 1, 8 * threads - 1}) {
            Set<Integer> expected = new TreeSet<>();
            for (int s = 0; s < threads; s++) expected.add(Parallel.shareStart(s, tasks, threads));
            for (int round = 0; round < 5; round++) assertEquals(expected, firstTasks(tasks, false), tasks + " tasks");
        }
    }

    @Test
    void inOrderTheThreadsStartOnTheFirstTasks() {
        assumeTrue(Parallel.threads() > 1, "one thread: it runs every task in order anyway");
        int threads = Parallel.threads();
        Set<Integer> expected = new TreeSet<>();
        for (int i = 0; i < threads; i++) expected.add(i);
        for (int round = 0; round < 5; round++) assertEquals(expected, firstTasks(4 * threads, true));
    }

    @Test
    void everyTaskRunsExactlyOnce() {
        for (int round = 0; round < 200; round++) {
            int n = 1 + round * 7;
            AtomicIntegerArray hits = new AtomicIntegerArray(n);
            Parallel.forEach(n, hits::incrementAndGet);
            for (int i = 0; i < n; i++) assertEquals(1, hits.get(i));
        }
    }

    @Test
    void aFailingTaskIsRethrownToTheCaller() {
        var e = assertThrows(IllegalStateException.class, () -> Parallel.forEach(64, i -> {
            if (i == 37) throw new IllegalStateException("task 37");
        }));
        assertEquals("task 37", e.getMessage());
        AtomicIntegerArray hits = new AtomicIntegerArray(8);
        Parallel.forEach(8, hits::incrementAndGet); // the pool still works afterwards
        for (int i = 0; i < 8; i++) assertEquals(1, hits.get(i));
    }

    /**
     * A thread that finds no task left calls whileWaiting while a task still runs: task 0 holds on
     * until a waiting thread has been there (as a Gemm task whose panels a helper finishes).
     */
    @Test
    void aThreadOutOfTasksCallsWhileWaitingUntilTheLastTaskEnds() {
        assumeTrue(Parallel.threads() > 1, "one thread: no thread is ever out of tasks while another runs");
        for (int round = 0; round < 20; round++) {
            AtomicInteger waited = new AtomicInteger();
            AtomicIntegerArray hits = new AtomicIntegerArray(4);
            Parallel.forEach(4, i -> {
                hits.incrementAndGet(i);
                long give = System.nanoTime() + 10_000_000_000L;
                if (i == 0) while (waited.get() == 0) if (System.nanoTime() > give) throw new AssertionError("no thread waited while task 0 ran");
            }, () -> waited.incrementAndGet() < 0);
            for (int i = 0; i < 4; i++) assertEquals(1, hits.get(i));
            assertTrue(waited.get() > 0);
        }
    }

    /**
     * A failure while helping (whileWaiting) on a pool thread reaches the caller as a task's does,
     * and the pool keeps all its threads: escaping, it ended the worker and the call returned as if
     * all were done (in Gemm, with the helper's panel never finished).
     */
    @Test
    void aFailureWhileWaitingIsRethrownAndThePoolKeepsItsThreads() {
        assumeTrue(Parallel.threads() > 1, "one thread: no thread is ever out of tasks while another runs");
        Thread caller = Thread.currentThread();
        for (int round = 0; round < 5; round++) {
            AtomicInteger asked = new AtomicInteger(), callerIn = new AtomicInteger();
            var e = assertThrows(IllegalStateException.class, () -> Parallel.forEach(Parallel.threads(), i -> {
                // the caller's task holds on until a pool thread, out of tasks, has been to whileWaiting;
                // the pool's tasks hold on until the caller has one, so that they cannot take them all
                long give = System.nanoTime() + 10_000_000_000L;
                if (Thread.currentThread() == caller) {
                    callerIn.set(1);
                    while (asked.get() == 0) if (System.nanoTime() > give) throw new AssertionError("no pool thread waited");
                } else {
                    while (callerIn.get() == 0) if (System.nanoTime() > give) throw new AssertionError("the caller took no task");
                }
            }, () -> {
                if (Thread.currentThread() == caller) return false;
                asked.incrementAndGet();
                // the caller's task ends now; the failure comes later, as a helper's would after its
                // sweep's finally let the owner's task finish
                LockSupport.parkNanos(50_000_000L);
                throw new IllegalStateException("helping failed");
            }));
            assertEquals("helping failed", e.getMessage());
        }
        // every pool thread is still there: as many tasks as threads, each waiting until all have started
        CountDownLatch started = new CountDownLatch(Parallel.threads());
        AtomicInteger alone = new AtomicInteger();
        Parallel.forEach(Parallel.threads(), i -> {
            started.countDown();
            try {
                if (!started.await(10, TimeUnit.SECONDS)) alone.incrementAndGet();
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
            }
        });
        assertEquals(0, alone.get(), "a pool thread is gone: its task never started beside the others");
    }

    @Test
    void nestedLoopsRunOnTheCallingThread() {
        AtomicIntegerArray hits = new AtomicIntegerArray(16 * 16);
        Parallel.forEach(16, i -> Parallel.forEach(16, j -> hits.incrementAndGet(i * 16 + j)));
        for (int i = 0; i < 256; i++) assertEquals(1, hits.get(i));
        assertTrue(Parallel.threads() >= 1);
    }

    @Test
    void rangesCoverEveryItemOnceInFewContiguousTasks() {
        for (int count : new int[] {1, 7, 100, 8192, 100_003})
            for (int work : new int[] {1, 49, 392, 100_000}) {
                AtomicIntegerArray hits = new AtomicIntegerArray(count);
                AtomicInteger ranges = new AtomicInteger();
                Parallel.forRanges(count, work, (from, to) -> {
                    assertTrue(from < to, "an empty range");
                    ranges.incrementAndGet();
                    for (int i = from; i < to; i++) hits.incrementAndGet(i);
                });
                for (int i = 0; i < count; i++) assertEquals(1, hits.get(i));
                // a few ranges a thread, not one per RANGE_WORK floats: each task is a claim of a counter
                // (a batch norm pass was ~400 tasks from one counter, and slower on two threads than on one)
                assertTrue(ranges.get() <= Parallel.RANGES_PER_THREAD * Parallel.threads(), ranges.get() + " ranges for " + count + " items of work " + work);
            }
    }

    @Test
    void stridedLoopCoversEveryElementOnceInParallel() {
        int rows = 3, n = 100_003; // few rows, long runs: split inside the runs
        float[] out = new float[rows * n];
        StridedLoop.forEach(new int[] {rows, n}, new int[][] {{n, 1}}, new int[] {0}, (o, st, len) -> {
            for (int i = 0; i < len; i++) out[o[0] + i * st[0]] += 1;
        });
        for (float v : out) assertEquals(1f, v);
    }
}
