package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.L;

import java.util.concurrent.atomic.AtomicReferenceArray;
import jdk.incubator.vector.FloatVector;

/**
 * Float32 matrix multiply, C = op(A) op(B), batched, row-major, on the Vector API.
 *
 * <p>Blocking: B is packed into zero-padded panels NR = 2 vectors wide, block-major, each
 * micro-panel once per call, by the first task that needs it (see PackedB; sgemmPacked takes B
 * packed before). A task packs its rows of A once per k block into MR x kc micro-panels (zero
 * padded; this also absorbs transposed A). Then for each B micro-panel (kc x NR) the
 * micro-kernel sweeps down the task's row blocks. A k block is all of k up to KC = 2048 (see
 * KC; tall tasks outside Zen 5 take blocks of 256, see TALL_KC): the micro-panel (up to 256
 * KB with AVX-512) then sits in L2, the task's A (up to 2 MB) in L3, and each C tile is written
 * once. (On Zen 4 with AVX2, k blocks of 256, B's micro-panel
 * in L1 and A in L2, this order measured ~10% faster than holding the A micro-panel in L1 and
 * streaming B from L2.) Partial tiles at the right and bottom edges are computed in full into a
 * small tile and the valid part copied, so the hot loop has no masks.
 *
 * <p>Work is split into tasks of (batch, row chunk, column group); each task owns its C
 * tile and sums over k in a fixed order, so results do not depend on the thread count.
 *
 * <p>The measurements below, to the end of this comment, were made with k blocks of 256 (before
 * KC became 2048). Where the time goes at n = 2048 (Zen 5, AVX-512, one thread unless said): the
 * 8 x 2 tile alone (A in L2, B in L1) runs at 207-212 GFLOP/s, ~97% of the FMA peak; an 8 x 3 tile at
 * 213-219. The whole multiply with B packed beforehand runs at 186-191 and a full call at
 * 180-186 (in the same hour; noisier minutes ran ~10% lower). Timed alone in those minutes,
 * leaving out the C loads at a tile's start, A's packing or the copy out of the stage moved it
 * no more than the noise; timed against each other (below) they do. Not kept, because they measured no faster: row chunks of
 * 512 rows (A 512 KB in this 1 MB L2), and each task packing every B micro-panel it uses into
 * its own L1 buffer, from B as it lies (no shared packed B; ~8% slower, B's rows 8 KB apart come
 * from DRAM without the prefetch a contiguous panel gets). Nor 8 x 3 tiles (panels 48
 * wide, k blocks of 192) as a route of sgemm's packed-A path: fuse bench, 2 threads, jars
 * alternating 3 times, n = 2048 +1% (noise), 1024 -2%, 256 -18% (five 48-wide panels and a
 * 16-wide one). That kernel had to step B by a stride passed in: stepping by the constant 3 L,
 * C2 unrolled its k loop and it ran ~25% slower.
 *
 * <p>B's micro-panel need not sit in L1: one thread, 256 rows swept against panels that alternate
 * in L2, 8 x 2 tiles ran alike with k blocks of 256 (32 KB panels) and 512 (64 KB), 204-208
 * GFLOP/s. What costs is a panel's first sweep when it comes from DRAM (B packed in 16 MB):
 * 193-197, against 200-206 from a 2 MB array (L3). Measured no better against that: 8 x 3 tiles
 * with k blocks of 256 (48 KB panels, from L2) in the same loop, 194-204 against 8 x 2's 194-203;
 * k blocks of 512 in the whole call, 2 threads, 10 alternations, 354-367 against 357-368;
 * loading 8 or 16 lines of the next panel after each tile (Java has no prefetch; a load that
 * misses holds up retirement), 173-180; computing the next panel's first tile in 32 slices of k
 * between this sweep's tiles (bit-identical, since each slice goes on from the stored sums),
 * 168-175. That first sweep reads B's 128 bytes per 16 FMAs (8 cycles), more than one core
 * streams from DRAM, so its first tile waits. 12 x 2 tiles (24 FMAs per 128 bytes; A packed as
 * 8 + 4 row micro-panels) did not help: in that loop, with C loaded after the first k block as
 * in the call, a lean 12 x 2 kernel ran at 193-198 against 8 x 2's 195-201, and one shaped for
 * this class (two A pointers, partial tiles) at 166-175; as the packed-A path of the whole call,
 * one JVM alternating, 2 threads 291-334 against 319-363, one thread 151-175 against 168-181.
 * Nor were smaller tasks better: 6 or 8 per thread instead of 4 (128-256 rows), 2 threads,
 * 348-360 against 364-371.
 *
 * <p>Variants timed against each other call by call in one JVM (a temporary property switching
 * the code; median of per-call ratios over 70-330 rounds, repeatable to ~0.5%), n = 2048, given
 * as one thread / two threads. Each of these, left out with results wrong, was worth: B's
 * micro-panels from a 2 MB slice that stays in L3 instead of 16 MB +3.5-5.1% / +3.0-4.3%, A's
 * packing +1.0-1.4% / +1.1-1.6%, the C loads +0.3-1.3% / +1.6-2.2%, the copy out of the stage
 * +2.5-2.8% / +2.3-2.6% (now by rows; see GemmTask.unstage), packing B (sgemmPacked against sgemm)
 * +1.0-1.6% / +1.3-1.4%. Two threads also waited on each other (see TALL_ROW_TASKS_PER_THREAD). Not kept, all
 * bit-identical: tasks of 512 or 1024 rows whose k blocks are swept by 256-row sub-chunks, so
 * the B slice is read again from L3, -1.8%, -2.7% / +0.3% to -1.4% (the stage grows to 4-8 MB);
 * 512-row chunks swept whole (A 512 KB), -1.0% / -0.4%; k blocks of 128 (A of 256 or 512 rows),
 * 192, 384 or 512, -1% to -3%; the first 2-8 tiles of each sweep interleaved in k chunks of
 * 32-128, so a panel fresh from DRAM feeds 2-8 tiles at once, -1% to -4.5% / -1.5% to -6%; both
 * threads walking the panels from the same place, or one apart, within 1%; all of A's k blocks
 * packed at the task's start (rows read end to end, later blocks from L3), -0.8% / -1.1%; A's
 * next k block packed a row block at a time between this block's panel sweeps (A double-buffered),
 * -1.6% / -1.2%; B packed two adjacent panels per claim, no better (JVMs alternating);
 * -XX:+UseTransparentHugePages (huge pages in use) left the DRAM cost as it was. A kernel harness (one thread, 256 rows, B panels from 16 MB or from
 * 1 MB): 16 x 1 tiles (one B vector per 16 FMAs, half the DRAM demand) lose only 1.4% to DRAM
 * against 8 x 2's 3.8% but run at 175 against 205 GFLOP/s from cache (16 broadcasts per 16
 * FMAs); 8 x 2 with the roles swapped (B broadcast from an 8-column panel, A's 32 rows as
 * vectors) runs alike from cache (203.5) but loses 10% to DRAM (8 tiles a sweep instead of 32).
 *
 * <p>With B's panels and the stage on cache lines (see PackedB.start), measured the same way and
 * not kept: chunks of 336 or 512 rows, -0.7% / -4.7% (two threads); the k loop stepping B by the
 * constant NR instead of ldb (no range checks on B), -0.4%; A's packing starting its vector loads
 * on a line (a scalar head), -0.5%; each tile reading one float of the stage 1, 2 or 4 tiles
 * ahead, to bring in early the lines that tile's C loads need, -0.7% to -0.8%. Had the caller's A
 * or C been on lines (passed at offset 12), +0.4% and +0.1%; B's rows before packing, 0. In the
 * kernel harness: one float of the next panel read per k step (16 lines per tile, so the panel is
 * in cache when its sweep starts) costs 2.4% from cache and gained 0 to +1% against DRAM; the
 * order transposed (a block of 8 or 16 B panels kept in L2, A's micro-panels streamed from a
 * 16 MB packed A, whose first reads need a quarter of B's rate) ran 3.8% and 1.7% slower; the
 * first 16 rows of each sweep as two 16 x 1 tiles (half a panel each, half the rate), the rest
 * 8 x 2, 0.8% slower from cache and 3.7% slower from DRAM. One core reads ~25 GB/s from DRAM, and
 * a panel's first tile wants 128 bytes every 8 cycles (~70 GB/s), so that tile waits on DRAM.
 *
 * <p>On an Intel Xeon (AVX-512, 2 MB L2; tall tasks in k blocks of 256, see TALL_KC), n = 2048,
 * one JVM alternating per call, two threads unless said. Left out with results wrong, A's packing
 * was worth 2.5% and 3.0% (two runs), the copy out of the stage 2.6%, the C loads 0; all three
 * 4.6%, on one thread 6.2%. Not kept: a sweep reading one float of each of the next 8 lines of the
 * micro-panel it sweeps next after every tile (half the panel by the sweep's end), +1.1%, +2.5%,
 * +1.7% (three runs), one thread +1.9%, n = 4096 +2.5%, but 1024 -0.2%, 512 -0.7%, 256 -1.5%
 * (B in cache); 16 lines +0.4%, -0.4%, one thread +3.7%. Each panel copied out of the stage right
 * after its last sweep, -3.3%; all of a task's A packed at its start, -2.3%; A read in place,
 * -17%; no stage, -14%; 512-row tasks, two a thread, +1.3% (three a thread +0.1%); 2 or 8 tasks a
 * thread, -0.8% / -4.2%.
 *
 * <p>On the Xeon with the constant-stride tile (see GemmTiles.tileKernel8; in cache it runs at
 * ~88% of the FMA peak, the whole call at ~70%) and tasks of up to 512 rows, n = 2048 unless
 * said, one JVM alternating per call, two threads: B's micro-panels from a 256 KB slice (results
 * wrong) +9.0%, the copy out of the stage left out +4.5%, A's packing left out +4.5%, the C loads
 * +1.0%; the stage left out (tiles into C, ldc apart) -9.3%, one thread -10.8%. Not kept: the last
 * k block's tiles loading the stage and storing straight to C (no copy out; same bits) -1.6%, one
 * thread -2.4%, n = 1000 +0.3%; tall k blocks of 224, 320 or 384 instead of 256 -0.5%, -0.6%,
 * -4.7% (n = 1024: -1.8%, -0.5%, -5.4%); the last round cut into 2 or 8 pieces, or not cut,
 * within +1.3% at 1024 and 2048; a sweep reading one float of each of the next 8 (or 16) lines
 * of the micro-panel it sweeps next after every tile (all of it by the sweep's end), n = 2048
 * -0.1% (-1.1%), 1024 -1.8% (-4.0%), 4096 +0.5% (-1.3%).
 */
public final class Gemm {
    /**
     * Rows of the register tile: 8 where the CPU has 32 vector registers (a 512-bit preferred
     * species means AVX-512), else 4 (see GemmTiles.tileKernel: the tile, B's two vectors and the
     * broadcasts must fit the register file). -Dfeaturefuse.gemm.rows=4|8 overrides it (A/B runs,
     * and tests of the other kernel on one machine). Measured on Zen 5 (AVX-512), one thread, the
     * kernel alone with B in L1: 4 rows ~160 GFLOP/s, 8 rows ~198 (FMA peak ~220).
     */
    static final int MR = chooseRows();
    /** Pack A even where it could be read in place (for A/B measurements of the two paths). */
    private static final boolean PACK_A = Boolean.getBoolean("featurefuse.gemm.packA");
    static final int NR = 2 * L;
    /**
     * Depth of a k block at most: k up to this is one block, so every C tile is summed over all of k
     * in registers and written once; the B micro-panel (KC x NR floats, 256 KB with AVX-512) sits in
     * L2 and a task's packed A (256 rows x KC, 2 MB) in L3. With blocks of 256 (B's panel in L1, A in
     * L2, as measured best on Zen 4 with AVX2) each block read C or a stage of it again and wrote it
     * back. Measured on Zen 5 (AVX-512, 1 MB L2), one JVM alternating per call (median of per-call
     * ratios, a temporary switch), two threads: square n = 2048 +4.3%, +1.7%, +2.6% (three runs), one
     * thread +0.8%, n = 1024 +3.2%, n = 4096 (two blocks of 2048) +4.0% (all of k in one block +3.5%
     * in that run, +5.3% in another); m x n x k = 256x2048x2048 +5.0%, 2048x256x2048 +3.6%,
     * 2048x2048x512 +4.3%, 512x512x2048 +19%, 256x256x1024 +16%, 128x128x1024 +21%, conv-like
     * 64x196x576 and 128x784x288 +11%; with 256-bit vectors and 4-row tiles, n = 2048 +2.3%,
     * 128x784x288 +4.6%. Blocks of 1024 or 683 at n = 2048: +0.9%, -0.2%. (Edge tiles and 4-row tiles
     * then still added each k block's sums to C, so products with 256 < k <= 2048 changed in their
     * last bits and fuse compare's test accuracies moved by up to 0.002; every tile now goes on from
     * C, and the blocking changes no bit, see GemmTiles.) The model's training step and inference,
     * which run few products with k over 256, measured the same (steps alternating in one JVM, 200 each: medians
     * within 1%). With KC = 2048, taller tasks (3 a thread, up to 384 rows, instead of 4 of up to
     * 256) measured n = 512 +2.3%, 1024 -0.4% to +1.6%, 2048 +0.9% to +1.4%, 4096 +1.3%, 256 -2.7%;
     * not kept, also because a short last row chunk then went unstaged.
     */
    static final int KC = 2048;
    /**
     * Depth of a k block at most for a tall task (TALL_ROWS rows or more): KC on AMD's Zen 5, where
     * the numbers at KC were measured, and 256 elsewhere, so that B's micro-panel (256 x NR floats,
     * 32 KB with AVX-512) sits in L1 and the task's packed A (up to 256 KB) in L2. On an Intel Xeon
     * with AVX-512 and AMX (2 MB L2, 48 KB L1; /proc/cpuinfo names no model), one JVM alternating
     * per call, median of per-call ratios, 2 threads, k blocks of 256 against 2048: square n = 2048
     * +8.6%, +8.7%, +8.9% (three runs), n = 4096 +6.3%, 2048x2048x512 +2.7%, 1024x2048x2048 +1.8%,
     * +2.9%; about even with 128-row tasks: n = 1024 +1.0%, -1.7%, -0.8%, 1024x1024x4096 +0.2%, 768
     * +0.6% (96 rows). Blocks of 128, 192 or 384 at n = 2048: -2.4%, -0.8%, -4.1% against 256. In a
     * kernel harness (256 rows, B from 16 MB) 2048-deep panels, whose tiles read B from L2, ran 23%
     * slower than 256-deep ones in L1, and 128-row tasks (A 1 MB, in L2) won back only 4.5% of it.
     * No cache size tells the two cores apart (Zen 5 also has a 48 KB L1; its L2 is 1 MB), hence
     * the model check. -Dfeaturefuse.gemm.kc=N sets this depth (A/B runs; the suite's four-row run
     * sets 96). Since every entry of C is one chain over k (see GemmTiles), the depth changes no
     * result.
     */
    static final int TALL_KC = chooseTallDepth(System.getProperty("featurefuse.gemm.kc"), CpuModel.HOST);
    /**
     * Rows of a task from which it takes k blocks of TALL_KC: B's micro-panel then serves 16 tiles
     * or more. Shorter tasks read each micro-panel too few times for L1 to matter, and there deep
     * blocks won on the Xeon as well: m x n x k (64-row tasks on 2 threads) 512x2048x2048 +7.0%,
     * 512x512x2048 +4.9%, (32 rows) 256x2048x2048 +17.6%, conv-like 64x196x576 +2.6%,
     * 128x784x288 +2.0%.
     */
    static final int TALL_ROWS = 128;
    /** Column granule for splitting work between tasks when there are few row chunks. */
    static final int NC = Math.max(NR, (256 / NR) * NR);
    /** Below this many multiply-adds a call runs on the calling thread. */
    private static final long PARALLEL_MIN_FMA = 1L << 17;

    /** A task's C region larger than this is accumulated in a stage when k takes several blocks (see GemmTask.compute). */
    private static final long STAGE_MIN_BYTES = 128 << 10;

    /**
     * Row blocks per task at most: 256 rows, whose packed A (256 x kc floats) is up to 2 MB; 512 rows
     * where tall tasks take shallow k blocks (TALL_KC below KC: A then 512 KB, in L2), so that each
     * B micro-panel, whose first sweep waits on memory, serves 64 tiles instead of 32. Measured on
     * the Xeon (one JVM alternating per call, median of per-call ratios), two tasks a thread (see
     * TALL_ROW_TASKS_PER_THREAD): what B's first sweeps cost there, B's micro-panels read instead
     * from a 256 KB slice (results wrong), was +10.3% (one thread) and +9.0% (two) at n = 2048,
     * +12.2% at 1024; from a 2 MB slice +6.0%, +5.5%, +7.4%. With 512-row tasks, two threads: n = 4096 +5.9%, 2048 +1.9%, +1.7%,
     * 1024 (256-row tasks instead of 128) +5.9%, +5.7%, 512 (128 rows instead of 64) -1.9%, -0.2%,
     * -0.8%; one thread, 2048 +2.8%. Through fuse bench (jars alternating 3 times, 2 threads, medians):
     * n = 1024 311-314 -> 317-327 GFLOP/s, 2048 and 256 within noise.
     */
    static final int MAX_CHUNK_BLOCKS = (TALL_KC < KC ? 512 : 256) / MR;
    /**
     * Tasks a thread tall row chunks are split into: 2 where tasks may be 512 rows, else 4. Not 1: of
     * two threads one often ran ~10% slower for a whole call, and the other then waited at the end
     * (4.3-4.8% of the two threads' time at n = 2048). Shorter chunks stay 4 a thread: at n = 256
     * (64-row tasks instead of 32, 4 tasks on 2 threads instead of 8) fuse bench measured -1% to -6%.
     */
    static final int TALL_ROW_TASKS_PER_THREAD = TALL_KC < KC ? 2 : 4;

    /**
     * Multiply-adds of a task's panel sweep (rows x k block x NR) from which threads out of tasks help
     * the others with their panels (see runShared). Below it a panel takes a few microseconds and the
     * claims pass cache lines between the cores: square n = 256 (32-row tasks, 0.26M a sweep) measured
     * 1-6% slower with helping, n = 512 (64 rows, 1M) 1-2% slower; n = 1024 (128 rows, 4M) gains.
     */
    private static final long SHARED_SWEEP_MIN_FMA = 1 << 21;

    private Gemm() {}

    static int chooseTallDepth(String property, CpuModel cpu) {
        if (property == null || property.isBlank()) return cpu.zen5OrLater() ? KC : 256;
        try {
            int kc = Integer.parseInt(property.trim());
            if (kc >= 16 && kc <= 65536) return kc;
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("featurefuse.gemm.kc must be a whole number from 16 to 65536, not '" + property + "'");
    }

    private static int chooseRows() {
        String rows = System.getProperty("featurefuse.gemm.rows");
        if (rows == null || rows.isBlank()) return FloatVector.SPECIES_PREFERRED.length() >= 16 ? 8 : 4;
        return switch (rows.trim()) {
            case "4" -> 4;
            case "8" -> 8;
            default -> throw new IllegalArgumentException("featurefuse.gemm.rows must be 4 or 8, not '" + rows + "'");
        };
    }

    /**
     * For each of {@code batch} problems t: C_t (m x n) = op(A_t) (m x k) . op(B_t) (k x n), where
     * A_t starts at {@code aOff + t * aBatch} (aBatch 0 shares one A), op(A) = A^T when transA
     * (A then stored k x m), and likewise for B. C is overwritten. Row strides lda, ldb, ldc.
     */
    public static void sgemm(int batch, int m, int n, int k,
                             float[] a, int aOff, int aBatch, boolean transA, int lda,
                             float[] b, int bOff, int bBatch, boolean transB, int ldb,
                             float[] c, int cOff, int cBatch, int ldc) {
        if (batch == 0 || m == 0 || n == 0) return;
        if (k == 0) {
            for (int t = 0; t < batch; t++)
                for (int i = 0; i < m; i++) java.util.Arrays.fill(c, cOff + t * cBatch + i * ldc, cOff + t * cBatch + i * ldc + n, 0f);
            return;
        }
        boolean parallel = (long) batch * m * n * k >= PARALLEL_MIN_FMA && Parallel.threads() > 1;
        int kcBlock = kBlock(k, depth(batch, m, parallel));
        // B is packed by the tasks themselves, each micro-panel when first needed (see PackedB).
        PackedB lazy = PackedB.forCall(b, bOff, bBatch, bBatch == 0 ? 1 : batch, transB, ldb, k, kcBlock, n, m, parallel);
        multiply(batch, m, n, k, kcBlock, a, aOff, aBatch, transA, lda, null, lazy, lazy.packed, lazy.start,
                bBatch == 0 ? 0 : packedSize(k, n), c, cOff, cBatch, ldc, parallel);
    }

    /**
     * C (m x n) = A . op(B) where row i of A starts at a[aOff + rowStarts[i]] (its k elements
     * contiguous): rows at arbitrary offsets, such as the shifted rows of a padded image that
     * make up an implicit im2col matrix.
     */
    public static void sgemmRows(int m, int n, int k, float[] a, int aOff, int[] rowStarts,
                                 float[] b, int bOff, boolean transB, int ldb, float[] c, int cOff, int ldc) {
        if (rowStarts.length < m) throw new IllegalArgumentException("sgemmRows: " + rowStarts.length + " row starts for " + m + " rows");
        if (m == 0 || n == 0) return;
        if (k == 0) {
            for (int i = 0; i < m; i++) java.util.Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, 0f);
            return;
        }
        boolean parallel = (long) m * n * k >= PARALLEL_MIN_FMA && Parallel.threads() > 1;
        int kcBlock = kBlock(k, depth(1, m, parallel));
        PackedB lazy = PackedB.forCall(b, bOff, 0, 1, transB, ldb, k, kcBlock, n, m, parallel);
        multiply(1, m, n, k, kcBlock, a, aOff, 0, false, 0, rowStarts, lazy, lazy.packed, lazy.start, 0, c, cOff, 0, ldc, parallel);
    }

    /** k split into equal blocks of at most KC, as B's public packed layout has it (see packedRowStart). */
    static int kBlock(int k) {
        return kBlock(k, KC);
    }

    /** k split into equal blocks of at most {@code depth}: 4100 runs as 2 x 2050, not 2048 + 2048 + 4 (a short last block reloads C for little work). */
    static int kBlock(int k, int depth) {
        int kb = (k + depth - 1) / depth;
        return (k + kb - 1) / kb;
    }

    /** The k block depth for a product of {@code batch} problems of m rows: TALL_KC where its tasks are tall, else KC. */
    static int depth(int batch, int m, boolean parallel) {
        int rowBlocks = (m + MR - 1) / MR;
        return Math.min(rowBlocks, chunkBlocks(batch, rowBlocks, parallel)) * MR >= TALL_ROWS ? TALL_KC : KC;
    }

    /**
     * Row blocks of a task: the rows split so that there are about 4 tasks a thread, or
     * TALL_ROW_TASKS_PER_THREAD where those would be tall already, at most MAX_CHUNK_BLOCKS each.
     */
    private static int chunkBlocks(int batch, int rowBlocks, boolean parallel) {
        if (!parallel) return Math.max(1, Math.min(MAX_CHUNK_BLOCKS, rowBlocks * batch));
        int blocks = rowBlocks * batch / tasksWanted(true);
        if (blocks * MR >= TALL_ROWS) blocks = rowBlocks * batch / (TALL_ROW_TASKS_PER_THREAD * Parallel.threads());
        return Math.max(1, Math.min(MAX_CHUNK_BLOCKS, blocks));
    }

    /** Tasks a call aims for when it also splits columns: about 4 a thread, so that a thread slowed by the machine takes fewer. */
    private static int tasksWanted(boolean parallel) {
        return parallel ? 4 * Parallel.threads() : 1;
    }

    /** Rows of the register tile (MR): 8 where the CPU has 32 vector registers, else 4. */
    public static int tileRows() {
        return MR;
    }

    /** Columns of one packed panel of B: the packed layout pads n up to a multiple of this. */
    public static int panelWidth() {
        return NR;
    }

    /** Floats the packed form of a k x n B takes. */
    public static int packedSize(int k, int n) {
        return Math.toIntExact((long) k * ((n + NR - 1) / NR) * NR);
    }

    /**
     * Where row p of a packed k x n B starts: its element j sits at
     * start + (j / panelWidth()) * packedPanelStride(k, p) + j % panelWidth(), and the columns
     * from n up to the padded width must hold zeros. Callers that build B themselves (im2col)
     * write it straight into this layout and skip the packing pass.
     */
    public static int packedRowStart(int k, int n, int p) {
        int kc = kBlock(k), pc = p / kc * kc, panels = (n + NR - 1) / NR;
        return pc * panels * NR + (p - pc) * NR;
    }

    /** Floats between the same row's consecutive panels in the packed layout. */
    public static int packedPanelStride(int k, int p) {
        int kc = kBlock(k), pc = p / kc * kc;
        return Math.min(kc, k - pc) * NR;
    }

    /** C (m x n) = op(A) . B, with B (k x n) already in the packed layout at bOff (see packedRowStart). */
    public static void sgemmPacked(int m, int n, int k, float[] a, int aOff, boolean transA, int lda,
                                   float[] packedB, int bOff, float[] c, int cOff, int ldc) {
        if (m == 0 || n == 0) return;
        if (k == 0) {
            for (int i = 0; i < m; i++) java.util.Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, 0f);
            return;
        }
        boolean parallel = (long) m * n * k >= PARALLEL_MIN_FMA && Parallel.threads() > 1;
        multiply(1, m, n, k, kBlock(k), a, aOff, 0, transA, lda, null, null, packedB, bOff, 0, c, cOff, 0, ldc, parallel);
    }

    /**
     * The multiply phase: tasks of (batch, row chunk, column group). A row chunk's A is packed
     * once per k block and reused across all its columns; columns are split into groups only
     * when there are too few row chunks to keep every thread busy. packedBatch is the distance
     * between batches' packed B (0: shared).
     */
    private static void multiply(int batch, int m, int n, int k, int kcBlock, float[] a, int aOff, int aBatch, boolean transA, int lda,
                                 int[] rowStarts, PackedB lazy, float[] packed, int bOff, int packedBatch, float[] c, int cOff, int cBatch,
                                 int ldc, boolean parallel) {
        int panels = (n + NR - 1) / NR;
        int rowBlocks = (m + MR - 1) / MR;
        // Packing A (a scalar transpose) pays back over n columns of C; for narrow C it does not, and
        // a plain A is read where it lies, a row pointer per tile row. Measured, one thread: conv
        // weight gradients (A rows gathered from shifted image planes, n = output channels)
        // 32->32 28x28 fwd+bwd 45-47 -> 55-58 GFLOP/s, 64->64 14x14 50-53 -> 54-58; square SGEMM
        // n >= 256 stays ~5% faster packed. Rechecked with the per-tile kernels (-Dfeaturefuse.gemm.packA,
        // one thread, 3 alternations, fwd+bwd): packing still loses on weight gradients, 5x5 1->32
        // 34 -> 28-32, stride-2 32->64 53 -> 47-49, the Winograd layers within noise. At four panels (n = 128: concat
        // fusion's 1x1 160->128 weight gradient, A its input planes, k = 196 per image) packing wins: b128, two threads,
        // 3 alternations, 7.15-7.81 -> 6.90-7.30 ms best (the eight-row kernel alone, B in cache: 124-131 -> 168 GFLOP/s).
        boolean direct = !transA && !PACK_A && (rowStarts != null || n < 4 * NR);
        int colBlocks = (n + NC - 1) / NC;
        int want = tasksWanted(parallel);
        int blocksPerChunk = chunkBlocks(batch, rowBlocks, parallel);
        int rowChunks = (rowBlocks + blocksPerChunk - 1) / blocksPerChunk;
        int colGroups = Math.max(1, Math.min(colBlocks, want / (batch * rowChunks)));
        int blocksPerGroup = (colBlocks + colGroups - 1) / colGroups;
        int groups = (colBlocks + blocksPerGroup - 1) / blocksPerGroup;
        // The last round of tasks is not cut into smaller pieces for a faster thread to take more of
        // (each piece packed its rows of A again). Cut by columns into 4 pieces a task, as first measured
        // (n = 2048 +0.4-2.3%, 1024 +1.9%, 512 +2.1%), it lost on the Xeon: 2 threads, one JVM alternating
        // per call, median ratios, not cut against cut, n = 4096 +0.7%, 2048 +2.4%, +2.5%, 1024 +4.6%,
        // 512 +1.5%, m x n x k 2048x2048x512 +2.8%, 1024x2048x2048 +1.8%, 256x2048x2048 +0.1%,
        // 2048x256x2048 +1.2%, conv-like 128x784x288 +2.7%, 64x196x576 +0.4%. A thread out of tasks
        // helps with the running tasks' panels instead (runShared), which packs no A again.
        int tasks = batch * rowChunks * groups;
        TaskBody mul = (t, open) -> {
            int cg = t % groups, rest = t / groups;
            int rc = rest % rowChunks, bt = rest / rowChunks;
            int i0 = rc * blocksPerChunk * MR, i1 = Math.min(m, i0 + blocksPerChunk * MR);
            int j0 = cg * blocksPerGroup * NC, j1 = Math.min(n, j0 + blocksPerGroup * NC);
            boolean staged = k > kcBlock && 4L * (i1 - i0) * (j1 - j0) > STAGE_MIN_BYTES;
            GemmTask.compute(a, aOff + bt * aBatch, transA, lda, rowStarts, direct, lazy, bt, packed, bOff + bt * packedBatch, panels, c, cOff + bt * cBatch,
                    ldc, k, kcBlock, i0, i1, j0, j1, staged, parallel ? Parallel.shareOf(t, tasks) : 0, open, t);
        };
        if (parallel && tasks > 1 && (long) Math.min(m, blocksPerChunk * MR) * Math.min(k, kcBlock) * NR >= SHARED_SWEEP_MIN_FMA) runShared(tasks, mul);
        else if (parallel) Parallel.forEach(tasks, t -> mul.run(t, null));
        else for (int t = 0; t < tasks; t++) mul.run(t, null);
    }

    /** A task of multiply: task t, publishing each k block's sweep in open[t] (open null: alone). */
    @FunctionalInterface
    private interface TaskBody {
        void run(int t, AtomicReferenceArray<PanelSweep> open);
    }

    /**
     * Runs the tasks on the pool, a thread out of tasks helping those still running with their
     * unclaimed panels (see PanelSweep) until all are done.
     *
     * <p>Without the help a thread out of tasks waited for the other's last task: timed per task on
     * Zen 5, square n = 2048, two threads, the threads were busy 99.4% of a call in quiet minutes and
     * 94.4-94.8% in minutes when one core was also running something else. Measured (jars alternating
     * in JVMs, median GFLOP/s over 40-150 calls, same bits): quiet, n = 2048 370-386 without against
     * 377-383 with; a process taking 4 ms in every 16 on one of the two cores, n = 2048 301-310 against
     * 335-336 (5 pairs; one core short by a quarter leaves 1.75 cores, ~333 at the quiet rate), n = 1024
     * 355-358 against 370-371.
     */
    private static void runShared(int tasks, TaskBody body) {
        AtomicReferenceArray<PanelSweep> open = new AtomicReferenceArray<>(tasks);
        Parallel.forEach(tasks, t -> body.run(t, open), () -> {
            boolean helped = false;
            for (int t = 0; t < tasks; t++) {
                PanelSweep s = open.get(t);
                if (s != null) helped |= s.help();
            }
            return helped;
        });
    }
}
