package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Gemm.MR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

/**
 * A task's k block handed out panel by panel to its owner and to a helping thread (PanelSweep):
 * the second k block of a product, so that every tile goes on from C, and a panel swept twice
 * (or not at all) leaves C off the plain fma chain. 333 columns end in a partial panel; C's row
 * padding must stay untouched.
 */
class PanelSweepTest {
    private static final int M = 509, KC = 384, K = 2 * KC, N = 333, LDC = N + 3;

    /** A's rows packed for the second k block, B packed lazily, C holding the first block's sums (random here). */
    private static final class Product {
        final float[] a, b, c, ap;
        final PackedB lazy;

        Product(long seed) {
            SplittableRandom r = new SplittableRandom(seed);
            a = random(r, M * K);
            b = random(r, K * N);
            c = random(r, M * LDC);
            for (int i = 0; i < M; i++) java.util.Arrays.fill(c, i * LDC + N, (i + 1) * LDC, Float.NaN);
            ap = new float[(M + MR - 1) / MR * MR * KC];
            for (int i = 0, at = 0; i < M; i += MR, at += KC * MR) PackedA.pack(a, 0, false, K, null, i, Math.min(MR, M - i), KC, KC, ap, at);
            lazy = PackedB.forCall(b, 0, 0, 1, false, N, K, KC, N, M, false);
        }

        PanelSweep sweep() {
            int panels = (N + Gemm.NR - 1) / Gemm.NR;
            return new PanelSweep(a, 0, K, null, false, ap, lazy, 0, lazy.packed, lazy.start, panels, KC, KC, c, 0, LDC, false, 0, 0, M, 0, N, 1);
        }

        /** Every entry of {@code got} (C as it was when taken) against the chain from C's value before. */
        void check(float[] before, float[] got) {
            for (int i = 0; i < M; i++) {
                for (int j = 0; j < N; j++) {
                    float s = before[i * LDC + j];
                    for (int p = KC; p < K; p++) s = Math.fma(a[i * K + p], b[p * N + j], s);
                    assertEquals(s, got[i * LDC + j], "C[" + i + "][" + j + "] is not its fma chain over the second k block");
                }
                for (int j = N; j < LDC; j++) assertTrue(Float.isNaN(got[i * LDC + j]), "padding of row " + i + " was written");
            }
        }
    }

    @Test
    void aHelperFirstTakesEveryPanelAndTheOwnerNone() {
        Product p = new Product(21);
        float[] before = p.c.clone();
        PanelSweep s = p.sweep();
        assertTrue(s.help(), "the helper found no panel to sweep");
        assertFalse(s.help(), "a panel was left after the helper's sweep");
        s.run();
        s.awaitHelpers();
        p.check(before, p.c);
    }

    /**
     * Owner and helper at once: whoever claims a panel sweeps it, each once. C is taken right after
     * the owner's awaitHelpers, last rows first (a panel's tiles are written top down), so that a
     * helper still inside its last panel shows as entries not yet summed.
     */
    @RepeatedTest(4)
    void ownerAndHelperSplitThePanelsAndTheOwnerWaits() throws InterruptedException {
        Product p = new Product(22);
        float[] before = p.c.clone(), taken = new float[p.c.length];
        PanelSweep s = p.sweep();
        CountDownLatch go = new CountDownLatch(1);
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread helper = new Thread(() -> {
            try {
                go.await();
                s.help();
            } catch (Throwable t) {
                failed.set(t);
            }
        });
        helper.start();
        go.countDown();
        s.run();
        s.awaitHelpers();
        for (int i = M - 1; i >= 0; i--) System.arraycopy(p.c, i * LDC, taken, i * LDC, LDC);
        helper.join();
        if (failed.get() != null) throw new AssertionError("the helper failed", failed.get());
        p.check(before, taken);
    }

    private static float[] random(SplittableRandom r, int size) {
        float[] v = new float[size];
        for (int i = 0; i < size; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }
}
