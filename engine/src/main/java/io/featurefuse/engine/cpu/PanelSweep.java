package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Gemm.NR;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * One k block of one Gemm task: its B micro-panels, each swept down the task's rows, handed out one
 * at a time. The task's own thread claims them in order, and a thread that has run out of tasks may
 * claim the rest beside it (see Gemm.runShared), so that a call's threads finish together instead of
 * one waiting out the other's last task. Every C tile is still computed whole by one thread with the
 * same kernel over the same k order, so who sweeps a panel changes no result.
 *
 * <p>A helper reads the owner's packed A and writes C, or the owner's stage, only in the panels it
 * claimed. The owner, once no panel is left to claim, waits in {@link #awaitHelpers} until every
 * helper has finished the panels it holds, before it packs the next k block over A or copies the
 * stage out.
 */
final class PanelSweep {
    private final float[] a, ap, bp, c;
    private final int aOff, lda, bt, pc, kc, bBase, panels, cOff, ldc, i0, i1, j0, j1, rows, groupPanels, first;
    private final int[] rowStarts;
    private final boolean direct, staged;
    private final PackedB lazy;
    /** The next panel to claim, in the task's walk order; groupPanels or more: none left. */
    private final AtomicInteger next = new AtomicInteger();
    /** Helpers that may hold a panel: counted before they claim, so the owner's wait sees them. */
    private final AtomicInteger helpers = new AtomicInteger();

    /**
     * The k block [pc, pc + kc) of C rows [i0, i1) x columns [j0, j1): A packed in ap (or read where
     * it lies when direct), B's micro-panels from lazy (packed on first use) or bp from bBase, C in c
     * at cOff (ldc), or, when staged, in the panel-major stage c (see GemmTask.compute); the walk over the
     * panels starts phase / threads of the way along (see the walk's comment in GemmTask.compute).
     */
    PanelSweep(float[] a, int aOff, int lda, int[] rowStarts, boolean direct, float[] ap, PackedB lazy, int bt, float[] bp, int bBase,
               int panels, int pc, int kc, float[] c, int cOff, int ldc, boolean staged, int rows, int i0, int i1, int j0, int j1, int phase) {
        this.a = a;
        this.aOff = aOff;
        this.lda = lda;
        this.rowStarts = rowStarts;
        this.direct = direct;
        this.ap = ap;
        this.lazy = lazy;
        this.bt = bt;
        this.bp = bp;
        this.bBase = bBase;
        this.panels = panels;
        this.pc = pc;
        this.kc = kc;
        this.c = c;
        this.cOff = cOff;
        this.ldc = ldc;
        this.staged = staged;
        this.rows = rows;
        this.i0 = i0;
        this.i1 = i1;
        this.j0 = j0;
        this.j1 = j1;
        this.groupPanels = (j1 - j0 + NR - 1) / NR;
        this.first = phase * groupPanels / Parallel.threads();
    }

    /** The owner's part: sweeps panels as long as any is left to claim. */
    void run() {
        float[][] scratch = GemmTask.scratch();
        for (int g; (g = next.getAndIncrement()) < groupPanels; ) sweep(g, scratch);
    }

    /** A helper's part: sweeps panels left to claim, if any; true if it swept one. */
    boolean help() {
        if (next.get() >= groupPanels) return false;
        helpers.incrementAndGet();
        try {
            boolean swept = false;
            float[][] scratch = GemmTask.scratch();
            for (int g; (g = next.getAndIncrement()) < groupPanels; swept = true) sweep(g, scratch);
            return swept;
        } finally {
            helpers.decrementAndGet();
        }
    }

    /** Waits until no helper holds a panel (the owner's claims must have run out first). */
    void awaitHelpers() {
        while (helpers.get() != 0) Thread.onSpinWait();
    }

    /** The g-th panel of the walk, swept down all the task's rows. */
    private void sweep(int g, float[][] scratch) {
        int j = j0 + (g + first) % groupPanels * NR;
        float[] bpanel;
        int bo;
        if (lazy == null) {
            bpanel = bp;
            bo = bBase + pc * panels * NR + (j / NR) * kc * NR;
        } else {
            // in spare when another thread was packing the shared copy; else where the layout puts it,
            // in the shared buffer or in this thread's own (PackedB.perThread)
            float[] spare = Parallel.grow(scratch, 3, kc * NR);
            bpanel = lazy.microPanel(bt, pc, j / NR, spare);
            bo = bpanel == spare ? 0 : lazy.offset(bt, pc, j / NR);
        }
        // staged: panel (j - j0) / NR holds rows i0.. NR apart; the padded columns are computed
        // (B's panels are zero there) and never copied out
        int nr = staged ? NR : Math.min(NR, j1 - j);
        int co = staged ? Simd.LINE_START + (j - j0) * rows - i0 * NR : cOff + j, ld = staged ? NR : ldc;
        boolean acc = pc > 0;
        if (direct) GemmTiles.sweepRows(a, aOff, lda, rowStarts, pc, i0, i1, bpanel, bo, kc, c, co, ld, nr, acc, scratch[1]);
        else GemmTiles.sweep(ap, 0, i0, i1, bpanel, bo, kc, c, co, ld, nr, acc, scratch[1]);
    }
}
