package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Gemm.NR;
import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicLong;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

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
 * way the values are the same, so the results do not depend on who packed what. A small B in a
 * call of many rows is packed by every thread into a buffer of its own instead (perThread).
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
    /** Per thread, for calls packed per thread: the call whose copy of micro-panel i is in the thread's BUFFER (see callId). */
    private static final ThreadLocal<long[]> OWN_COPIES = ThreadLocal.withInitial(() -> new long[0]);
    private static final AtomicLong CALLS = new AtomicLong();
    /**
     * A parallel call packs B once per thread (see perThread) when B is up to this many floats
     * packed (1 MB) and op(A) has PER_THREAD_MIN_ROWS rows or more. Measured on Zen 5, two
     * threads, each way in its own JVM (jars or JVMs alternating, median GFLOP/s, same bits): in
     * some hours the vCPUs sat where a line written by one core was slow for the other to read
     * (shared packing then ran square n = 256 at 230-240 GFLOP/s, m x n x k = 64 x 196 x 576 at
     * 134-139, 128 x 784 x 288 at 212-221), and packing per thread measured 284-292 (+22%), 237-242
     * (+75%) and 290-314 (+38%), n = 512 +9%; in other hours shared packing was fast (n = 256
     * 353-375) and packing per thread cost n = 256 1-2%, 512 1-2%, 128 x 784 x 288 3-5%, 64 x 196
     * x 576 15%. The extra packing, B once more per thread, is against work of m rows, hence the
     * floor on m; and B must stay in cache twice over: 256 x 2048 x 256 (B 2 MB) lost 7%, square
     * 1024 (4 MB) 5%. As adopted, fuse bench, jars alternating 4 times: n = 256 234-327 -> 273-336
     * GFLOP/s (+3% to +19% a pair), 512 290-369 -> 322-368 (0 to +11%), 1024 and 2048 within noise.
     */
    static final long PER_THREAD_MAX_FLOATS = 1 << 18;
    /** See PER_THREAD_MAX_FLOATS. */
    static final int PER_THREAD_MIN_ROWS = 256;

    final float[] packed;
    /**
     * Where problem 0's packed B starts in {@link #packed}. forCall's buffer starts it at
     * Simd.LINE_START, so that the micro-panels' vector loads do not straddle cache lines.
     * Measured, square SGEMM n = 2048, one JVM alternating per call with a temporary switch
     * (median of per-call ratios): with the stage (GemmTask.compute) likewise at Simd.LINE_START,
     * +1.8% on two threads, +2.4% on one, n = 1024 +1.8%; B's panels alone +1.4%. fuse bench, jars
     * alternating 5 times, 2 threads: n = 2048 332-361 -> 339-371 GFLOP/s, higher in each pair.
     */
    final int start;
    private final float[] b;
    private final int bOff, bBatch, bBatches, ldb, k, kcBlock, n, panels, kBlocks;
    private final boolean transB;
    private final long panelSize;
    private final long[] state;
    private final long claimed;
    /**
     * Whether each thread packs the micro-panels it uses into its own buffer (BUFFER), once a call,
     * instead of all threads sharing one copy. A shared micro-panel is written by one core and then
     * read by the other out of the first one's cache, every call anew: at square n = 256 on two
     * threads, in an hour when that was slow, it cost ~30 us of a ~120 us call (with B packed
     * before the call, the same product took ~92 us), more than packing every panel twice.
     */
    private final boolean perThread;
    /** This call, unique in the process: what OWN_COPIES holds for the micro-panels a thread has packed for it. */
    private final long callId;

    /**
     * A PackedB for one call, packing into the calling thread's buffer (grown as needed), in k blocks
     * of kcBlock; in a parallel call of m rows with B small enough (see PER_THREAD_MAX_FLOATS), each
     * thread into its own.
     */
    static PackedB forCall(float[] b, int bOff, int bBatch, int bBatches, boolean transB, int ldb, int k, int kcBlock, int n,
                           int m, boolean parallel) {
        long size = (long) k * ((n + NR - 1) / NR) * NR * bBatches;
        if (size > Integer.MAX_VALUE - 16 - Simd.LINE_START)
            throw new IllegalArgumentException("matmul: operand B of " + bBatches + " x " + k + " x " + n + " is too large to pack");
        return new PackedB(b, bOff, bBatch, bBatches, transB, ldb, k, kcBlock, n, buffer((int) size), Simd.LINE_START,
                parallel && m >= PER_THREAD_MIN_ROWS && size <= PER_THREAD_MAX_FLOATS);
    }

    /** The calling thread's packing buffer, grown to hold size floats from Simd.LINE_START. */
    private static float[] buffer(int size) {
        float[] buffer = BUFFER.get();
        if (buffer.length < Simd.LINE_START + size) BUFFER.set(buffer = LineArrays.of(size));
        return buffer;
    }

    /**
     * The calling thread's lazily packed B of {@code bBatches} problems (bBatch apart in b) into
     * {@code packed} from index {@code start}, which must hold start + bBatches x packedSize(k, n)
     * floats. Only threads working for this call may use it, and only until the call returns.
     */
    PackedB(float[] b, int bOff, int bBatch, int bBatches, boolean transB, int ldb, int k, int kcBlock, int n, float[] packed, int start) {
        this(b, bOff, bBatch, bBatches, transB, ldb, k, kcBlock, n, packed, start, false);
    }

    /** As above; perThread: each thread packs into its own BUFFER instead (packed must then be the caller's, start Simd.LINE_START). */
    PackedB(float[] b, int bOff, int bBatch, int bBatches, boolean transB, int ldb, int k, int kcBlock, int n, float[] packed, int start,
            boolean perThread) {
        this.b = b;
        this.bOff = bOff;
        this.bBatch = bBatch;
        this.transB = transB;
        this.ldb = ldb;
        this.k = k;
        this.kcBlock = kcBlock;
        this.n = n;
        this.packed = packed;
        this.start = start;
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
        this.perThread = perThread;
        this.callId = CALLS.incrementAndGet();
        this.bBatches = bBatches;
    }

    /** Offset in {@link #packed} of the micro-panel of problem bt, k block starting at row pc, panel q (once packed). */
    int offset(int bt, int pc, int q) {
        return start + (int) (bt * panelSize) + pc * panels * NR + q * Math.min(kcBlock, k - pc) * NR;
    }

    /**
     * The array holding that micro-panel packed: {@link #packed} (at {@link #offset}) once it is
     * there, packing it now if no task has claimed it; else {@code scratch} (at 0, kcBlock x NR
     * floats at least), packed here because another thread is packing the shared copy.
     */
    float[] microPanel(int bt, int pc, int q, float[] scratch) {
        int idx = index(bt, pc, q);
        if (perThread) return ownCopy(bt, pc, q, idx);
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

    /**
     * The calling thread's copy of a micro-panel, at {@link #offset} in its BUFFER, packed on its
     * first use in this call. No other thread reads or writes that buffer while the call runs: a
     * worker's loops do not nest, so its buffer serves no other product meanwhile.
     */
    private float[] ownCopy(int bt, int pc, int q, int idx) {
        float[] own = buffer((int) (panelSize * bBatches));
        long[] copies = OWN_COPIES.get();
        if (copies.length < state.length) OWN_COPIES.set(copies = java.util.Arrays.copyOf(copies, state.length));
        if (copies[idx] != callId) {
            packMicroPanel(b, bOff + bt * bBatch, transB, ldb, pc, Math.min(kcBlock, k - pc), n, q * NR, own, offset(bt, pc, q));
            copies[idx] = callId;
        }
        return own;
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
            if (L >= 8)
                for (; j + 8 <= w; j += 8) transposeEight(b, bOff + (j0 + j) * ldb + pc, ldb, kc, dst, dOff + j);
            for (; j < w; j++) {
                int src = bOff + (j0 + j) * ldb + pc;
                for (int p = 0; p < kc; p++) dst[dOff + p * NR + j] = b[src + p];
            }
        }
    }

    /**
     * dst[d + p NR + r] = b[s + r ldb + p] for r < 8, p < kc: eight rows of a transposed B into
     * a panel, an 8 x L block per step transposed in registers by PackedA.packEightRows' three rounds
     * of zips, each output vector L / 8 columns p of eight, stored as L / 8 masked stores NR
     * apart; the last kc mod L columns one by one. Element by element this was ~2.5% of a
     * training step (the weight gradients' B is dOut^T). The zip network is packEightRows', whose
     * stores are whole: with both kinds of store in one method (the stride an argument, a helper
     * for the masked ones), C2 reached its node cutoff before it had inlined the helper, and every
     * output vector was boxed. On species F, not an eight-lane one: see Simd.
     */
    private static void transposeEight(float[] b, int s, int ldb, int kc, float[] dst, int d) {
        int p = 0, group = L / 8 * NR; // output vector m holds p + m L / 8 ..
        for (; p + L <= kc; p += L) {
            FloatVector r0 = FloatVector.fromArray(F, b, s + p), r4 = FloatVector.fromArray(F, b, s + 4 * ldb + p);
            FloatVector r1 = FloatVector.fromArray(F, b, s + ldb + p), r5 = FloatVector.fromArray(F, b, s + 5 * ldb + p);
            FloatVector r2 = FloatVector.fromArray(F, b, s + 2 * ldb + p), r6 = FloatVector.fromArray(F, b, s + 6 * ldb + p);
            FloatVector r3 = FloatVector.fromArray(F, b, s + 3 * ldb + p), r7 = FloatVector.fromArray(F, b, s + 7 * ldb + p);
            FloatVector y0 = r0.rearrange(Simd.ZIP_LO, r4), y1 = r1.rearrange(Simd.ZIP_LO, r5);
            FloatVector y2 = r2.rearrange(Simd.ZIP_LO, r6), y3 = r3.rearrange(Simd.ZIP_LO, r7);
            FloatVector lo02 = y0.rearrange(Simd.ZIP_LO, y2), hi02 = y0.rearrange(Simd.ZIP_HI, y2);
            FloatVector lo13 = y1.rearrange(Simd.ZIP_LO, y3), hi13 = y1.rearrange(Simd.ZIP_HI, y3);
            FloatVector v0 = lo02.rearrange(Simd.ZIP_LO, lo13), v1 = lo02.rearrange(Simd.ZIP_HI, lo13);
            FloatVector v2 = hi02.rearrange(Simd.ZIP_LO, hi13), v3 = hi02.rearrange(Simd.ZIP_HI, hi13);
            y0 = r0.rearrange(Simd.ZIP_HI, r4);
            y1 = r1.rearrange(Simd.ZIP_HI, r5);
            y2 = r2.rearrange(Simd.ZIP_HI, r6);
            y3 = r3.rearrange(Simd.ZIP_HI, r7);
            lo02 = y0.rearrange(Simd.ZIP_LO, y2);
            hi02 = y0.rearrange(Simd.ZIP_HI, y2);
            lo13 = y1.rearrange(Simd.ZIP_LO, y3);
            hi13 = y1.rearrange(Simd.ZIP_HI, y3);
            FloatVector v4 = lo02.rearrange(Simd.ZIP_LO, lo13), v5 = lo02.rearrange(Simd.ZIP_HI, lo13);
            FloatVector v6 = hi02.rearrange(Simd.ZIP_LO, hi13), v7 = hi02.rearrange(Simd.ZIP_HI, hi13);
            // lanes h .. h + 7 of each output vector are one p: stored at that p's row, NR - 8 on from the last
            for (int h = 0, at = d + p * NR; h < L; h += 8, at += NR - 8) {
                VectorMask<Float> eight = VectorMask.fromLong(F, 0xFFL << h);
                v0.intoArray(dst, at, eight);
                v1.intoArray(dst, at + group, eight);
                v2.intoArray(dst, at + 2 * group, eight);
                v3.intoArray(dst, at + 3 * group, eight);
                v4.intoArray(dst, at + 4 * group, eight);
                v5.intoArray(dst, at + 5 * group, eight);
                v6.intoArray(dst, at + 6 * group, eight);
                v7.intoArray(dst, at + 7 * group, eight);
            }
        }
        for (; p < kc; p++)
            for (int r = 0; r < 8; r++) dst[d + p * NR + r] = b[s + r * ldb + p];
    }
}
