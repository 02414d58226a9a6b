package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Gemm.NR;
import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import jdk.incubator.vector.FloatVector;

/**
 * Op(B) in {@link Gemm}'s packed layout: zero-padded panels NR columns wide, block-major (for
 * each k block of kcBlock rows, the panels one after another, each kc x NR). The panels of one
 * k block are adjacent; with a panel-major layout they sat a power of two apart, fought over the
 * same L2 sets, and n = 2048 ran at 60 instead of ~75 GFLOP/s on one core (AVX2).
 *
 * <p>An instance packs one sgemm call's B lazily: each micro-panel (one k block of one panel)
 * is packed by the first task that needs it, right before its sweep, and then read from the
 * shared buffer by every later task. This replaced a packing pass over all of B before the
 * multiply: at n = 2048 that pass read and wrote 16 MB while the FMA units waited, ~3% of the
 * call on two threads (measured by leaving it out), and its last panels, not the first ones the
 * multiply needs, were the ones left in cache. A task that finds a micro-panel claimed but not
 * yet packed packs its own copy into scratch instead of waiting: a waiter would spin for a whole
 * time slice if the packing thread were descheduled, which on a shared machine happens. Either
 * way the values are the same, so the results do not depend on who packed what.
 */
final class PackedB {
    private static final VarHandle STATE = MethodHandles.arrayElementVarHandle(long[].class);
    /**
     * Per calling thread: [0] counts its calls, [1 + i] is micro-panel i's state, 3 call + 0
     * (claimed), + 1 (packed) or + 2 (its packing threw). A state from an earlier call is below
     * the current one's, so no state needs clearing.
     */
    private static final ThreadLocal<long[]> STATES = ThreadLocal.withInitial(() -> new long[1]);
    private static final ThreadLocal<float[]> BUFFER = ThreadLocal.withInitial(() -> new float[0]);

    final float[] packed;
    private final float[] b;
    private final int bOff, bBatch, ldb, k, kcBlock, n, panels, kBlocks;
    private final boolean transB;
    private final long panelSize;
    private final long[] state;
    private final long claimed;

    /** A PackedB for one call, packing into the calling thread's buffer (grown as needed), in Gemm's k blocks. */
    static PackedB forCall(float[] b, int bOff, int bBatch, int bBatches, boolean transB, int ldb, int k, int n) {
        long size = (long) k * ((n + NR - 1) / NR) * NR * bBatches;
        if (size > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("matmul: operand B of " + bBatches + " x " + k + " x " + n + " is too large to pack");
        float[] buffer = BUFFER.get();
        if (buffer.length < size) BUFFER.set(buffer = new float[(int) size]);
        return new PackedB(b, bOff, bBatch, bBatches, transB, ldb, k, Gemm.kBlock(k), n, buffer);
    }

    /**
     * The calling thread's lazily packed B of {@code bBatches} problems (bBatch apart in b) into
     * {@code packed}, which must hold bBatches x packedSize(k, n) floats. Only threads working for
     * this call may use it, and only until the call returns.
     */
    PackedB(float[] b, int bOff, int bBatch, int bBatches, boolean transB, int ldb, int k, int kcBlock, int n, float[] packed) {
        this.b = b;
        this.bOff = bOff;
        this.bBatch = bBatch;
        this.transB = transB;
        this.ldb = ldb;
        this.k = k;
        this.kcBlock = kcBlock;
        this.n = n;
        this.packed = packed;
        this.panels = (n + NR - 1) / NR;
        this.kBlocks = (k + kcBlock - 1) / kcBlock;
        this.panelSize = (long) k * panels * NR;
        int states = Math.addExact(1, Math.multiplyExact(Math.multiplyExact(bBatches, kBlocks), panels));
        long[] s = STATES.get();
        if (s.length < states) {
            s = java.util.Arrays.copyOf(s, states);
            STATES.set(s);
        }
        this.state = s;
        this.claimed = 3 * ++s[0];
    }

    /** Offset in {@link #packed} of the micro-panel of problem bt, k block starting at row pc, panel q (once packed). */
    int offset(int bt, int pc, int q) {
        return (int) (bt * panelSize) + pc * panels * NR + q * Math.min(kcBlock, k - pc) * NR;
    }

    /**
     * The array holding that micro-panel packed: {@link #packed} (at {@link #offset}) once it is
     * there, packing it now if no task has claimed it; else {@code scratch} (at 0, kcBlock x NR
     * floats at least), packed here because another thread is packing the shared copy.
     */
    float[] microPanel(int bt, int pc, int q, float[] scratch) {
        int idx = index(bt, pc, q);
        long s = (long) STATE.getAcquire(state, idx);
        if (s == claimed + 1) return packed;
        if (s == claimed + 2) throw new IllegalStateException("matmul: packing operand B failed on another thread");
        int src = bOff + bt * bBatch, kc = Math.min(kcBlock, k - pc);
        if (claim(bt, pc, q)) {
            boolean done = false;
            try {
                packMicroPanel(b, src, transB, ldb, pc, kc, n, q * NR, packed, offset(bt, pc, q));
                done = true;
            } finally {
                STATE.setRelease(state, idx, claimed + (done ? 1 : 2));
            }
            return packed;
        }
        packMicroPanel(b, src, transB, ldb, pc, kc, n, q * NR, scratch, 0);
        return scratch;
    }

    /** Claims a micro-panel for packing; false if a task has claimed it in this call already. Tests use it to hold a claim in progress. */
    boolean claim(int bt, int pc, int q) {
        int idx = index(bt, pc, q);
        long s = (long) STATE.getAcquire(state, idx);
        return s < claimed && STATE.compareAndSet(state, idx, s, claimed);
    }

    private int index(int bt, int pc, int q) {
        return 1 + (bt * kBlocks + pc / kcBlock) * panels + q;
    }

    /** dst[d + p NR + j] = op(B)[pc + p][j0 + j] for p < kc, j < NR: one micro-panel, zero beyond column n. */
    static void packMicroPanel(float[] b, int bOff, boolean transB, int ldb, int pc, int kc, int n, int j0, float[] dst, int dOff) {
        int w = Math.min(NR, n - j0);
        if (!transB) {
            for (int p = 0; p < kc; p++) {
                int src = bOff + (pc + p) * ldb + j0, d = dOff + p * NR;
                if (w == NR) {
                    FloatVector.fromArray(F, b, src).intoArray(dst, d);
                    FloatVector.fromArray(F, b, src + L).intoArray(dst, d + L);
                } else {
                    System.arraycopy(b, src, dst, d, w);
                    java.util.Arrays.fill(dst, d + w, d + NR, 0f);
                }
            }
        } else {
            if (w < NR) for (int p = 0; p < kc; p++) java.util.Arrays.fill(dst, dOff + p * NR + w, dOff + (p + 1) * NR, 0f);
            int j = 0;
            if (Simd.EIGHT_LANES)
                for (; j + 8 <= w; j += 8) transposeEight(b, bOff + (j0 + j) * ldb + pc, ldb, kc, dst, dOff + j);
            for (; j < w; j++) {
                int src = bOff + (j0 + j) * ldb + pc;
                for (int p = 0; p < kc; p++) dst[dOff + p * NR + j] = b[src + p];
            }
        }
    }

    /**
     * dst[d + p NR + r] = b[s + r ldb + p] for r < 8, p < kc: eight rows of a transposed B into
     * a panel, 8 x 8 blocks transposed in registers by three rounds of zips (as Gemm.packEightRows,
     * with eight lanes each output vector is one p), the last kc mod 8 columns one by one.
     * Element by element this was ~2.5% of a training step (the weight gradients' B is dOut^T).
     * The zip network repeats Gemm.packEightRows' on another species and stride: shared, the species
     * would be an argument, which C2 treats as a constant (and intrinsifies) only where it inlines
     * the method, and one this size it does not.
     */
    private static void transposeEight(float[] b, int s, int ldb, int kc, float[] dst, int d) {
        var f8 = Simd.F8;
        int p = 0;
        for (; p + 8 <= kc; p += 8) {
            FloatVector r0 = FloatVector.fromArray(f8, b, s + p), r4 = FloatVector.fromArray(f8, b, s + 4 * ldb + p);
            FloatVector r1 = FloatVector.fromArray(f8, b, s + ldb + p), r5 = FloatVector.fromArray(f8, b, s + 5 * ldb + p);
            FloatVector r2 = FloatVector.fromArray(f8, b, s + 2 * ldb + p), r6 = FloatVector.fromArray(f8, b, s + 6 * ldb + p);
            FloatVector r3 = FloatVector.fromArray(f8, b, s + 3 * ldb + p), r7 = FloatVector.fromArray(f8, b, s + 7 * ldb + p);
            int at = d + p * NR;
            FloatVector y0 = r0.rearrange(Simd.ZIP8_LO, r4), y1 = r1.rearrange(Simd.ZIP8_LO, r5);
            FloatVector y2 = r2.rearrange(Simd.ZIP8_LO, r6), y3 = r3.rearrange(Simd.ZIP8_LO, r7);
            FloatVector lo02 = y0.rearrange(Simd.ZIP8_LO, y2), hi02 = y0.rearrange(Simd.ZIP8_HI, y2);
            FloatVector lo13 = y1.rearrange(Simd.ZIP8_LO, y3), hi13 = y1.rearrange(Simd.ZIP8_HI, y3);
            lo02.rearrange(Simd.ZIP8_LO, lo13).intoArray(dst, at);
            lo02.rearrange(Simd.ZIP8_HI, lo13).intoArray(dst, at + NR);
            hi02.rearrange(Simd.ZIP8_LO, hi13).intoArray(dst, at + 2 * NR);
            hi02.rearrange(Simd.ZIP8_HI, hi13).intoArray(dst, at + 3 * NR);
            y0 = r0.rearrange(Simd.ZIP8_HI, r4);
            y1 = r1.rearrange(Simd.ZIP8_HI, r5);
            y2 = r2.rearrange(Simd.ZIP8_HI, r6);
            y3 = r3.rearrange(Simd.ZIP8_HI, r7);
            lo02 = y0.rearrange(Simd.ZIP8_LO, y2);
            hi02 = y0.rearrange(Simd.ZIP8_HI, y2);
            lo13 = y1.rearrange(Simd.ZIP8_LO, y3);
            hi13 = y1.rearrange(Simd.ZIP8_HI, y3);
            lo02.rearrange(Simd.ZIP8_LO, lo13).intoArray(dst, at + 4 * NR);
            lo02.rearrange(Simd.ZIP8_HI, lo13).intoArray(dst, at + 5 * NR);
            hi02.rearrange(Simd.ZIP8_LO, hi13).intoArray(dst, at + 6 * NR);
            hi02.rearrange(Simd.ZIP8_HI, hi13).intoArray(dst, at + 7 * NR);
        }
        for (; p < kc; p++)
            for (int r = 0; r < 8; r++) dst[d + p * NR + r] = b[s + r * ldb + p];
    }
}
