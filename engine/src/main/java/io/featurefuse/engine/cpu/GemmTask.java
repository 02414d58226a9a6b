package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Gemm.MR;
import static io.featurefuse.engine.cpu.Gemm.NR;
import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import java.util.concurrent.atomic.AtomicReferenceArray;
import jdk.incubator.vector.FloatVector;

/**
 * One task of {@link Gemm}'s multiply: its C region over all of k, a k block at a time (A's rows
 * packed, then B's micro-panels swept down them by PanelSweep), accumulated in C or in a stage
 * copied out at the end; and the per-thread scratch those use.
 */
final class GemmTask {
    private GemmTask() {}

    /** Per thread: [0] packed A, [1] a partial tile, [2] the stage, [3] a B micro-panel packed privately; [0], [2] and [3] grow as needed. */
    private static final ThreadLocal<float[][]> SCRATCH =
            ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[MR * NR], new float[0], new float[0]});

    /** The calling thread's GEMM scratch (see SCRATCH). */
    static float[][] scratch() {
        return SCRATCH.get();
    }

    /**
     * C rows [i0, i1) x columns [j0, j1) of one problem, over all of k, B's micro-panels from
     * {@code lazy} when given (packed on first use) else already packed in bp from bBase; phase
     * (the task's share of the pool's tasks, Parallel.shareOf) picks the panel the walk starts at.
     *
     * <p>When k takes several blocks (k over KC; what follows was measured with k blocks of 256),
     * each block reads and writes the whole C region again. In C itself the sweep down a column panel
     * touches one line per row, ldc apart, and the region (up to 256 rows x n) outgrows L2 from n ~
     * 512 (presumably each tile's loads of C then wait at the end of its k loop; this machine has no
     * counters to show it). When {@code staged} (multiply's choice, for a whole task's region over
     * Gemm.STAGE_MIN_BYTES: a quarter of this machine's 512 KB L2, the rest being A's pack and B), C is
     * accumulated in a panel-major stage instead, each panel's rows NR floats apart so a sweep walks
     * it contiguously, and copied to C once at the end. The stage starts at Simd.LINE_START, on a
     * line (see LineArrays, PackedB.start). Measured, square SGEMM, GFLOP/s: one thread, one JVM
     * alternating, n = 1024 63-73 -> 71-79, n = 2048 62-76 -> 74-79; two threads, jars
     * alternating, n = 2048 mean of 9 ~102 -> ~107, n = 1024 within noise.
     */
    static void compute(float[] a, int aOff, boolean transA, int lda, int[] rowStarts, boolean direct, PackedB lazy, int bt, float[] bp,
                        int bBase, int panels, float[] c, int cOff, int ldc, int k, int kcBlock, int i0, int i1, int j0, int j1, boolean staged,
                        int phase, AtomicReferenceArray<PanelSweep> open, int slot) {
        float[][] scratch = SCRATCH.get();
        float[] ap = direct ? scratch[0] : Parallel.grow(scratch, 0, (i1 - i0 + MR - 1) / MR * MR * kcBlock);
        int rows = (i1 - i0 + MR - 1) / MR * MR;
        float[] dst = staged ? LineArrays.grow(scratch, 2, rows * ((j1 - j0 + NR - 1) / NR * NR)) : c;
        for (int pc = 0; pc < k; pc += kcBlock) {
            int kc = Math.min(kcBlock, k - pc);
            if (!direct)
                for (int i = i0, at = 0; i < i1; i += MR, at += kc * MR) PackedA.pack(a, aOff, transA, lda, rowStarts, i, Math.min(MR, i1 - i), pc, kc, ap, at);
            // Each B micro-panel (kc x NR) stays in cache (L2; see KC) while the micro-kernel
            // sweeps down the task's row blocks, whose packed A streams from L3. Tasks running at
            // the same time (each from its thread's share, so of different phase) start their walk
            // over the panels at different places: with lazy packing each then packs its own share
            // of the first micro-panels, rather than finding the one it needs being packed by the
            // other, and later reads the others' share soon after it was packed, from cache (with
            // phases equal for such tasks, threads starting on their own shares measured n = 1024
            // -2%; with distinct phases +0.8%; see Parallel). A column's sums do not depend on the
            // order of the panels. Measured with lazy packing, square
            // SGEMM n = 2048, 2 threads, one JVM alternating 6 times: starting all tasks at panel
            // 0 was ~2% slower, no faster than packing all of B before the multiply. Not kept (same bits,
            // one JVM alternating per call, median of per-call ratios, n = 2048, two threads unless said):
            // every other task walking its panels backwards, so that it starts on those touched last,
            // +0.4%, +0.1%, +0.6%, +0.2%, 0.0%, one thread 0.0% twice; all threads sweeping one row chunk together
            // (A packed by both, panels claimed from one counter), chunks of 256, 512 or 1024 rows,
            // -6.2%, -6.2%, -6.5%. Huge pages for the heap (-XX:+UseTransparentHugePages; B's packing
            // gathers rows 8 KB apart), through fuse bench, JVMs alternating, 18 pairs in two sessions:
            // n = 2048 -2.0% to +3.7%, mean ~+1%, n = 256 ~-1%; and the flag is heap-wide: add 16M
            // -6% to -14%, inference -0.5% to -6.6%, peak RSS of training +50-90 MB.
            PanelSweep sweep = new PanelSweep(a, aOff, lda, rowStarts, direct, ap, lazy, bt, bp, bBase, panels, pc, kc, dst, cOff,
                    ldc, staged, rows, i0, i1, j0, j1, phase);
            if (open == null) sweep.run();
            else {
                open.set(slot, sweep);
                try {
                    sweep.run();
                } finally {
                    open.set(slot, null);
                    sweep.awaitHelpers();
                }
            }
        }
        if (staged) unstage(dst, rows, c, cOff, ldc, i0, i1, j0, j1);
    }

    /**
     * C rows [i0, i1) x columns [j0, j1) = the panel-major stage compute() accumulated them in. Row
     * by row, so that C, not in cache, is written line after line: panel by panel the copy wrote
     * 128 bytes to each row in turn, ldc apart. Measured, n = 2048, one JVM alternating per call,
     * median ratios: leaving the copy out (results wrong) +2.3-2.8%, copying by rows +1.3-1.4%, on
     * 1 and 2 threads. Having the last k block's tiles load the stage and store straight to C
     * measured no better than copying by rows (2 threads +0.2%, 1 thread +0.1%, n = 1024 -0.6%).
     */
    private static void unstage(float[] stage, int rows, float[] c, int cOff, int ldc, int i0, int i1, int j0, int j1) {
        for (int i = i0; i < i1; i++) {
            int to = cOff + i * ldc + j0, from = Simd.LINE_START + (i - i0) * NR, j = j0;
            for (; j + NR <= j1; j += NR, to += NR, from += rows * NR) {
                FloatVector.fromArray(F, stage, from).intoArray(c, to);
                FloatVector.fromArray(F, stage, from + L).intoArray(c, to + L);
            }
            if (j < j1) System.arraycopy(stage, from, c, to, j1 - j);
        }
    }
}
