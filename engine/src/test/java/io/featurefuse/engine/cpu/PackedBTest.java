package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * sgemm's lazily packed B: every micro-panel lands in the shared buffer where the packed layout's
 * definition (Gemm.packedRowStart) puts it; a micro-panel another task has claimed but not
 * finished is packed into the caller's scratch instead; a later call on the same thread packs
 * its own B again; a packing that threw is reported to the tasks that need that micro-panel.
 * Two problems (bBatch apart), 70 columns (a partial last panel) and Gemm.KC + 52 rows (two k blocks).
 */
class PackedBTest {
    private static final int BATCHES = 2, K = Gemm.KC + 52, N = 70, KC = Gemm.kBlock(K);

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void lazyPackingMatchesAPassOverAllOfB(boolean transB) {
        float[] b = random(new SplittableRandom(3), BATCHES * K * N);
        int ldb = transB ? K : N, panels = (N + Gemm.NR - 1) / Gemm.NR, size = Gemm.packedSize(K, N);
        float[] want = layout(b, transB, ldb);
        float[] packed = new float[BATCHES * size], scratch = new float[KC * Gemm.NR];
        Arrays.fill(packed, Float.NaN);
        PackedB lazy = new PackedB(b, 0, K * N, BATCHES, transB, ldb, K, KC, N, packed, 0);
        for (int bt = 0; bt < BATCHES; bt++)
            for (int pc = 0; pc < K; pc += KC)
                for (int q = 0; q < panels; q++) {
                    assertSame(packed, lazy.microPanel(bt, pc, q, scratch), "first use of micro-panel " + bt + "/" + pc + "/" + q);
                    assertSame(packed, lazy.microPanel(bt, pc, q, scratch), "second use of micro-panel " + bt + "/" + pc + "/" + q);
                }
        assertArrayEquals(want, packed);

        // The next call on this thread, with other values in B, must pack them again.
        for (int i = 0; i < b.length; i++) b[i] = -b[i];
        want = layout(b, transB, ldb);
        PackedB next = new PackedB(b, 0, K * N, BATCHES, transB, ldb, K, KC, N, packed, 0);
        for (int bt = 0; bt < BATCHES; bt++)
            for (int pc = 0; pc < K; pc += KC)
                for (int q = 0; q < panels; q++) next.microPanel(bt, pc, q, scratch);
        assertArrayEquals(want, packed);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aMicroPanelBeingPackedElsewhereIsPackedIntoScratch(boolean transB) {
        float[] b = random(new SplittableRandom(4), BATCHES * K * N);
        int ldb = transB ? K : N, size = Gemm.packedSize(K, N), lastPanel = (N - 1) / Gemm.NR;
        float[] want = layout(b, transB, ldb);

        float[] packed = new float[BATCHES * size], scratch = new float[KC * Gemm.NR];
        Arrays.fill(scratch, Float.NaN);
        PackedB lazy = new PackedB(b, 0, K * N, BATCHES, transB, ldb, K, KC, N, packed, 0);
        assertTrue(lazy.claim(1, KC, lastPanel));
        assertSame(scratch, lazy.microPanel(1, KC, lastPanel, scratch));
        int at = lazy.offset(1, KC, lastPanel);
        assertArrayEquals(Arrays.copyOfRange(want, at, at + (K - KC) * Gemm.NR), Arrays.copyOf(scratch, (K - KC) * Gemm.NR));
        for (int i = at; i < at + (K - KC) * Gemm.NR; i++)
            assertEquals(0f, packed[i], "the claimed micro-panel's shared copy was written by a task that had not claimed it");
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aPackingThatThrewIsReportedToTheNextTaskThatNeedsIt(boolean transB) {
        float[] b = new float[K * N - 1];
        int ldb = transB ? K : N, lastPanel = (N - 1) / Gemm.NR;
        float[] packed = new float[Gemm.packedSize(K, N)], scratch = new float[KC * Gemm.NR];
        PackedB lazy = new PackedB(b, 0, 0, 1, transB, ldb, K, KC, N, packed, 0);
        assertThrows(IndexOutOfBoundsException.class, () -> lazy.microPanel(0, KC, lastPanel, scratch));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> lazy.microPanel(0, KC, lastPanel, scratch));
        assertTrue(e.getMessage().contains("packing operand B failed"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void packedPerThreadEachThreadPacksItsOwnCopyOnceACall(boolean transB) throws Exception {
        float[] b = random(new SplittableRandom(5), BATCHES * K * N);
        int ldb = transB ? K : N, panels = (N + Gemm.NR - 1) / Gemm.NR, size = Gemm.packedSize(K, N);
        // one problem of the two: small enough to be packed per thread
        assertTrue(size <= PackedB.PER_THREAD_MAX_FLOATS, "packed B of " + size + " floats");
        int m = PackedB.PER_THREAD_MIN_ROWS;
        float[] want = layout(b, transB, ldb);
        float[] scratch = new float[KC * Gemm.NR];
        PackedB lazy = PackedB.forCall(b, 0, K * N, 1, transB, ldb, K, KC, N, m, true);
        // each thread: every micro-panel in its own array, where the layout puts it
        float[] mine = useEvery(lazy, panels, scratch);
        var theirs = new java.util.concurrent.atomic.AtomicReference<float[]>();
        Thread other = new Thread(() -> theirs.set(useEvery(lazy, panels, scratch.clone())));
        other.start();
        other.join();
        assertSame(lazy.packed, mine, "the calling thread packs into the call's buffer");
        assertTrue(theirs.get() != null && theirs.get() != lazy.packed, "another thread packs into its own");
        float[][] seen = {mine, theirs.get()};
        for (float[] copy : seen)
            for (int i = 0; i < size; i++) assertEquals(want[i], copy[Simd.LINE_START + i], "packed float " + i);
        // once a call: asked again in this call, a thread's copy is not packed anew; the next call packs it again
        for (int i = 0; i < b.length; i++) b[i] = -b[i];
        lazy.microPanel(0, 0, 0, scratch);
        assertEquals(want[Gemm.packedRowStart(K, N, 0)], lazy.packed[Simd.LINE_START + Gemm.packedRowStart(K, N, 0)]);
        PackedB next = PackedB.forCall(b, 0, K * N, 1, transB, ldb, K, KC, N, m, true);
        next.microPanel(0, 0, 0, scratch);
        assertEquals(-want[Gemm.packedRowStart(K, N, 0)], next.packed[Simd.LINE_START + Gemm.packedRowStart(K, N, 0)]);
        // fewer rows, or a call on one thread: one copy, shared
        for (PackedB shared : new PackedB[] {PackedB.forCall(b, 0, K * N, 1, transB, ldb, K, KC, N, m - 1, true),
                                             PackedB.forCall(b, 0, K * N, 1, transB, ldb, K, KC, N, m, false)}) {
            var got = new java.util.concurrent.atomic.AtomicReference<float[]>();
            Thread t = new Thread(() -> got.set(shared.microPanel(0, 0, 0, scratch.clone())));
            t.start();
            t.join();
            assertSame(shared.packed, got.get());
        }
    }

    /** Asks for every micro-panel of problem 0 twice; returns the one array they all came in. */
    private static float[] useEvery(PackedB lazy, int panels, float[] scratch) {
        float[] own = null;
        for (int bt = 0; bt < 1; bt++)
            for (int pc = 0; pc < K; pc += KC)
                for (int q = 0; q < panels; q++)
                    for (int twice = 0; twice < 2; twice++) {
                        float[] got = lazy.microPanel(bt, pc, q, scratch);
                        if (own == null) own = got;
                        assertSame(own, got, "one array per thread");
                    }
        return own;
    }

    /** The packed layout by its definition (Gemm.packedRowStart): op(B_t)[p][j] of problem t, zero in the padding columns. */
    private static float[] layout(float[] b, boolean transB, int ldb) {
        int size = Gemm.packedSize(K, N), padded = (N + Gemm.NR - 1) / Gemm.NR * Gemm.NR;
        float[] out = new float[BATCHES * size];
        for (int t = 0; t < BATCHES; t++)
            for (int p = 0; p < K; p++)
                for (int j = 0; j < padded; j++) {
                    int at = t * size + Gemm.packedRowStart(K, N, p) + j / Gemm.NR * Gemm.packedPanelStride(K, p) + j % Gemm.NR;
                    out[at] = j >= N ? 0f : b[t * K * N + (transB ? j * ldb + p : p * ldb + j)];
                }
        return out;
    }

    private static float[] random(SplittableRandom r, int size) {
        float[] v = new float[size];
        for (int i = 0; i < size; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }
}
