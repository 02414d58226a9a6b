package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;

/**
 * Float32 matrix multiply, C = op(A) op(B), batched, row-major, on the Vector API.
 *
 * <p>Blocking (measured on this project's Zen 4 machines, AVX2): B is packed once per call
 * into zero-padded panels NR = 2 vectors wide, block-major (see packPanel). A task packs its
 * rows of A once per KC block into MR x KC micro-panels (zero padded; this also absorbs
 * transposed A), kept in L2. Then for each B micro-panel (KC x NR, 16 KB with AVX2, held in L1)
 * the micro-kernel sweeps down the task's row blocks. This order measured ~10% faster than
 * holding the A micro-panel in L1 and streaming B from L2. Partial tiles at the right and
 * bottom edges are computed in full into a small tile and the valid part copied, so the hot
 * loop has no masks.
 *
 * <p>Work is split into tasks of (batch, row chunk, column group); each task owns its C
 * tile and sums over k in a fixed order, so results do not depend on the thread count.
 */
public final class Gemm {
    static final int MR = 4;
    /** Pack A even where it could be read in place (for A/B measurements of the two paths). */
    private static final boolean PACK_A = Boolean.getBoolean("featurefuse.gemm.packA");
    static final int NR = 2 * L;
    /** Depth of a k block at most (the B micro-panel, KC x NR floats, must sit in L1). */
    static final int KC = 256;
    /** Column granule for splitting work between tasks when there are few row chunks. */
    static final int NC = Math.max(NR, (256 / NR) * NR);
    /** Below this many multiply-adds a call runs on the calling thread. */
    private static final long PARALLEL_MIN_FMA = 1L << 17;

    /** A task's C region larger than this is accumulated in a stage when k takes several blocks (see block). */
    private static final long STAGE_MIN_BYTES = 128 << 10;

    /** Row blocks per task at most: the task's packed A (MAX_CHUNK_BLOCKS * MR x KC floats, 256 KB) stays in L2. */
    static final int MAX_CHUNK_BLOCKS = 64;

    private static final ThreadLocal<float[][]> SCRATCH =
            ThreadLocal.withInitial(() -> new float[][] {new float[MAX_CHUNK_BLOCKS * MR * KC], new float[MR * NR], new float[0]});
    private static final ThreadLocal<float[]> PACKED_B = ThreadLocal.withInitial(() -> new float[0]);

    private Gemm() {}

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
        int panels = (n + NR - 1) / NR;
        int kcBlock = kBlock(k);
        int bBatches = bBatch == 0 ? 1 : batch;
        long panelSize = (long) k * NR;
        long packedSize = panelSize * panels * bBatches;
        if (packedSize > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("matmul: operand B of " + bBatches + " x " + k + " x " + n + " is too large to pack");
        float[] bp = PACKED_B.get();
        if (bp.length < packedSize) {
            bp = new float[(int) packedSize];
            PACKED_B.set(bp);
        }
        final float[] packed = bp;
        boolean parallel = (long) batch * m * n * k >= PARALLEL_MIN_FMA && Parallel.threads() > 1;

        // 1. Pack B: one task per (batch, panel).
        int packTasks = bBatches * panels;
        java.util.function.IntConsumer pack = t -> {
            int bt = t / panels, p = t % panels;
            packPanel(b, bOff + bt * bBatch, transB, ldb, k, kcBlock, n, panels, p, packed, (int) (bt * panels * panelSize));
        };
        if (parallel) Parallel.forEach(packTasks, pack);
        else for (int t = 0; t < packTasks; t++) pack.accept(t);

        multiply(batch, m, n, k, a, aOff, aBatch, transA, lda, null, packed, 0, bBatch == 0 ? 0 : (int) (panels * panelSize),
                c, cOff, cBatch, ldc, parallel);
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
        int panels = (n + NR - 1) / NR, kcBlock = kBlock(k);
        float[] packed = PACKED_B.get();
        if (packed.length < packedSize(k, n)) {
            packed = new float[packedSize(k, n)];
            PACKED_B.set(packed);
        }
        boolean parallel = (long) m * n * k >= PARALLEL_MIN_FMA && Parallel.threads() > 1;
        float[] dst = packed;
        java.util.function.IntConsumer pack = p -> packPanel(b, bOff, transB, ldb, k, kcBlock, n, panels, p, dst, 0);
        if (parallel) Parallel.forEach(panels, pack);
        else for (int p = 0; p < panels; p++) pack.accept(p);
        multiply(1, m, n, k, a, aOff, 0, false, 0, rowStarts, packed, 0, 0, c, cOff, 0, ldc, parallel);
    }

    /** k split into equal blocks of at most KC: 576 runs as 3 x 192, not 256 + 256 + 64 (a short last block reloads C for little work). */
    static int kBlock(int k) {
        int kb = (k + KC - 1) / KC;
        return (k + kb - 1) / kb;
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
        multiply(1, m, n, k, a, aOff, 0, transA, lda, null, packedB, bOff, 0, c, cOff, 0, ldc, parallel);
    }

    /**
     * The multiply phase: tasks of (batch, row chunk, column group). A row chunk's A is packed
     * once per k block and reused across all its columns; columns are split into groups only
     * when there are too few row chunks to keep every thread busy. packedBatch is the distance
     * between batches' packed B (0: shared).
     */
    private static void multiply(int batch, int m, int n, int k, float[] a, int aOff, int aBatch, boolean transA, int lda, int[] rowStarts,
                                 float[] packed, int bOff, int packedBatch, float[] c, int cOff, int cBatch, int ldc, boolean parallel) {
        int panels = (n + NR - 1) / NR, kcBlock = kBlock(k);
        int rowBlocks = (m + MR - 1) / MR;
        // Packing A (a scalar transpose) pays back over n columns of C; for narrow C it does not, and
        // a plain A is read where it lies, a row pointer per tile row. Measured, one thread: conv
        // weight gradients (A rows gathered from shifted image planes, n = output channels)
        // 32->32 28x28 fwd+bwd 45-47 -> 55-58 GFLOP/s, 64->64 14x14 50-53 -> 54-58; square SGEMM
        // n >= 256 stays ~5% faster packed. Rechecked with the per-tile kernels (-Dfeaturefuse.gemm.packA,
        // one thread, 3 alternations, fwd+bwd): packing still loses on weight gradients, 5x5 1->32
        // 34 -> 28-32, stride-2 32->64 53 -> 47-49, the Winograd layers within noise.
        boolean direct = !transA && !PACK_A && (rowStarts != null || n <= 4 * NR);
        int colBlocks = (n + NC - 1) / NC;
        int want = parallel ? 4 * Parallel.threads() : 1;
        int blocksPerChunk = Math.max(1, Math.min(MAX_CHUNK_BLOCKS, rowBlocks * batch / want));
        int rowChunks = (rowBlocks + blocksPerChunk - 1) / blocksPerChunk;
        int colGroups = Math.max(1, Math.min(colBlocks, want / (batch * rowChunks)));
        int blocksPerGroup = (colBlocks + colGroups - 1) / colGroups;
        int groups = (colBlocks + blocksPerGroup - 1) / blocksPerGroup;
        java.util.function.IntConsumer mul = t -> {
            int cg = t % groups, rest = t / groups;
            int rc = rest % rowChunks, bt = rest / rowChunks;
            int i0 = rc * blocksPerChunk * MR, i1 = Math.min(m, i0 + blocksPerChunk * MR);
            int j0 = cg * blocksPerGroup * NC, j1 = Math.min(n, j0 + blocksPerGroup * NC);
            block(a, aOff + bt * aBatch, transA, lda, rowStarts, direct, packed, bOff + bt * packedBatch, panels, c, cOff + bt * cBatch, ldc, k,
                    kcBlock, i0, i1, j0, j1);
        };
        int tasks = batch * rowChunks * groups;
        if (parallel) Parallel.forEach(tasks, mul);
        else for (int t = 0; t < tasks; t++) mul.accept(t);
    }

    /**
     * Copies columns [j0, j0+NR) of op(B) (k x n) into the packed layout, zero beyond n. The
     * layout is block-major: for each KC-block of k, the panels one after another, each kc x NR.
     * The panels of one KC block are then adjacent; with panel-major layout they sat a power
     * of two apart, fought over the same L2 sets, and n = 2048 ran at 60 instead of ~75
     * GFLOP/s on one core.
     */
    private static void packPanel(float[] b, int bOff, boolean transB, int ldb, int k, int kcBlock, int n, int panels, int panel,
                                  float[] dst, int dBase) {
        int j0 = panel * NR, w = Math.min(NR, n - j0);
        for (int pc = 0; pc < k; pc += kcBlock) {
            int kc = Math.min(kcBlock, k - pc);
            int dOff = dBase + pc * panels * NR + panel * kc * NR;
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
                for (int j = 0; j < w; j++) {
                    int src = bOff + (j0 + j) * ldb + pc;
                    for (int p = 0; p < kc; p++) dst[dOff + p * NR + j] = b[src + p];
                }
            }
        }
    }

    /**
     * C rows [i0, i1) x columns [j0, j1) of one problem, over all of k.
     *
     * <p>When k takes several blocks, each block reads and writes the whole C region again. In C
     * itself the sweep down a column panel touches one line per row, ldc apart, and the region
     * (up to 256 rows x n) outgrows L2 from n ~ 512 (presumably each tile's loads of C then wait
     * at the end of its k loop; this machine has no counters to show it). Regions over
     * STAGE_MIN_BYTES (a quarter of this machine's 512 KB L2, the rest being A's pack and B) are
     * accumulated in a panel-major stage instead, each panel's rows NR floats apart so a sweep
     * walks it contiguously, and copied to C once at the end. Measured, square SGEMM, GFLOP/s:
     * one thread, one JVM alternating, n = 1024 63-73 -> 71-79, n = 2048 62-76 -> 74-79; two
     * threads, jars alternating, n = 2048 mean of 9 ~102 -> ~107, n = 1024 within noise.
     */
    private static void block(float[] a, int aOff, boolean transA, int lda, int[] rowStarts, boolean direct, float[] bp, int bBase, int panels,
                              float[] c, int cOff, int ldc, int k, int kcBlock, int i0, int i1, int j0, int j1) {
        float[][] scratch = SCRATCH.get();
        float[] ap = scratch[0], tile = scratch[1];
        boolean staged = k > kcBlock && 4L * (i1 - i0) * (j1 - j0) > STAGE_MIN_BYTES;
        int rows = (i1 - i0 + MR - 1) / MR * MR;
        float[] dst = staged ? Parallel.grow(scratch, 2, rows * ((j1 - j0 + NR - 1) / NR * NR)) : c;
        for (int pc = 0; pc < k; pc += kcBlock) {
            int kc = Math.min(kcBlock, k - pc);
            boolean acc = pc > 0;
            if (!direct)
                for (int i = i0, at = 0; i < i1; i += MR, at += kc * MR) packA(a, aOff, transA, lda, rowStarts, i, Math.min(MR, i1 - i), pc, kc, ap, at);
            // Each B micro-panel (KC x NR, 16 KB with AVX2) stays in L1 while the micro-kernel
            // sweeps down the task's row blocks, whose packed A streams from L2.
            for (int j = j0; j < j1; j += NR) {
                int bo = bBase + pc * panels * NR + (j / NR) * kc * NR;
                // staged: panel (j - j0) / NR holds rows i0.. NR apart; the padded columns are
                // computed (B's panels are zero there) and never copied out
                int nr = staged ? NR : Math.min(NR, j1 - j);
                int co = staged ? (j - j0) * rows - i0 * NR : cOff + j, ld = staged ? NR : ldc;
                if (direct) sweepRows(a, aOff, lda, rowStarts, pc, i0, i1, bp, bo, kc, dst, co, ld, nr, acc, tile);
                else sweep(ap, 0, i0, i1, bp, bo, kc, dst, co, ld, nr, acc, tile);
            }
        }
        if (staged) unstage(dst, rows, c, cOff, ldc, i0, i1, j0, j1);
    }

    /** C rows [i0, i1) x columns [j0, j1) = the panel-major stage block() accumulated them in. */
    private static void unstage(float[] stage, int rows, float[] c, int cOff, int ldc, int i0, int i1, int j0, int j1) {
        for (int j = j0; j < j1; j += NR) {
            int w = Math.min(NR, j1 - j), from = (j - j0) * rows;
            for (int i = i0; i < i1; i++, from += NR) {
                int to = cOff + i * ldc + j;
                if (w == NR) {
                    FloatVector.fromArray(F, stage, from).intoArray(c, to);
                    FloatVector.fromArray(F, stage, from + L).intoArray(c, to + L);
                } else {
                    System.arraycopy(stage, from, c, to, w);
                }
            }
        }
    }

    /** ap[at + p*MR + r] = op(A)[i+r][pc+p], zero for rows r >= mr; row i of a plain A starts at rowStarts[i] when given, else i lda. */
    static void packA(float[] a, int aOff, boolean transA, int lda, int[] rowStarts, int i, int mr, int pc, int kc, float[] ap, int at) {
        if (mr < MR) java.util.Arrays.fill(ap, at, at + kc * MR, 0f);
        if (!transA && mr == MR) {
            packFourRows(a, rowStart(aOff, lda, rowStarts, i) + pc, rowStart(aOff, lda, rowStarts, i + 1) + pc,
                    rowStart(aOff, lda, rowStarts, i + 2) + pc, rowStart(aOff, lda, rowStarts, i + 3) + pc, kc, ap, at);
        } else if (!transA) {
            for (int r = 0; r < mr; r++) {
                int src = aOff + (rowStarts == null ? (i + r) * lda : rowStarts[i + r]) + pc;
                for (int p = 0; p < kc; p++) ap[at + p * MR + r] = a[src + p];
            }
        } else {
            for (int p = 0; p < kc; p++) {
                int src = aOff + (pc + p) * lda + i;
                for (int r = 0; r < mr; r++) ap[at + p * MR + r] = a[src + r];
            }
        }
    }

    /**
     * ap[at + p MR + r] = a[s_r + p] for the four rows s0..s3, p < kc: a 4 x L block of A per
     * step, transposed by two rounds of zips ((r0, r2) and (r1, r3), then those pairs), giving
     * L / 4 columns of four per output vector, in that order for any L >= 4.
     */
    private static void packFourRows(float[] a, int s0, int s1, int s2, int s3, int kc, float[] ap, int at) {
        int p = 0;
        if (L >= 4)
            for (; p + L <= kc; p += L) {
                FloatVector r0 = FloatVector.fromArray(F, a, s0 + p), r1 = FloatVector.fromArray(F, a, s1 + p);
                FloatVector r2 = FloatVector.fromArray(F, a, s2 + p), r3 = FloatVector.fromArray(F, a, s3 + p);
                FloatVector lo02 = r0.rearrange(Simd.ZIP_LO, r2), hi02 = r0.rearrange(Simd.ZIP_HI, r2);
                FloatVector lo13 = r1.rearrange(Simd.ZIP_LO, r3), hi13 = r1.rearrange(Simd.ZIP_HI, r3);
                int d = at + p * MR;
                lo02.rearrange(Simd.ZIP_LO, lo13).intoArray(ap, d);
                lo02.rearrange(Simd.ZIP_HI, lo13).intoArray(ap, d + L);
                hi02.rearrange(Simd.ZIP_LO, hi13).intoArray(ap, d + 2 * L);
                hi02.rearrange(Simd.ZIP_HI, hi13).intoArray(ap, d + 3 * L);
            }
        for (; p < kc; p++) {
            int d = at + p * MR;
            ap[d] = a[s0 + p];
            ap[d + 1] = a[s1 + p];
            ap[d + 2] = a[s2 + p];
            ap[d + 3] = a[s3 + p];
        }
    }

    /**
     * The micro-kernel run down row blocks [i0, i1) against one B micro-panel (kc x NR at
     * bp[bo]), C columns from c[co] (nr of them valid): C (+)= ap . bp with A packed from ap[a0]
     * (MR x kc micro-panels, see packA), one {@link #tileKernel} call per row block.
     */
    static void sweep(float[] ap, int a0, int i0, int i1, float[] bp, int bo, int kc, float[] c, int co, int ldc, int nr, boolean acc,
                      float[] tile) {
        for (int i = i0, ao = a0; i < i1; i += MR, ao += kc * MR)
            tileKernel(ap, ao, bp, bo, kc, c, co + i * ldc, ldc, acc, Math.min(MR, i1 - i), nr, tile);
    }

    /**
     * One MR x 2-vector register tile: C[o..] (+)= A (packed MR x kc at ap[ao]) . B (kc x NR at
     * bp[bo]); a partial tile (mr rows, nr columns valid) is computed whole into {@code tile} and
     * its valid part copied. C2 loads all of an iteration's operands before the first FMA, so the
     * tile must fit 16 vector registers (AVX2) together with them: 8 accumulators + 2 B vectors +
     * 4 broadcasts. At 5 or 6 rows, or unrolled over k, C2 spilled an accumulator and the kernel
     * fell from ~80 to 31-43 GFLOP/s on one core. 3 x 3 vectors (9 accumulators) also fits but
     * measured no better.
     *
     * <p>Why one tile per call: with the row-block loop in the same method, C2 kept that loop's
     * values in registers and spilled B's array and offset, reloading both from the stack in
     * every k step (8 loads per 8 FMAs, with the range checks' compares). Alone, the k loop
     * holds its operands in registers (6 loads, no stack traffic). Measured on one thread, best
     * of each JVM run, jars alternating 3 times: square SGEMM n = 1024 ~78 -> ~84 GFLOP/s, n = 2048
     * ~78 -> ~85, n = 256 84 either way; through Winograd and the 1x1 route, conv3x3 64->64 14x14
     * b128 forward 84 -> 104, conv1x1 160->128 57 -> 76. tileKernelRows has the same split.
     *
     * <p>Why the tile kernel is more than 325 bytes of bytecode (KernelInliningTest checks it):
     * C2 never inlines a hot callee larger than FreqInlineSize (325), so the kernel is always
     * compiled on its own. When C2 happened to compile the caller first and inlined the kernel
     * into it, the caller ran out of C2's node budget before the Vector API intrinsics were
     * inlined, and every fma boxed its result: the whole GEMM ran 4-5x slower, in about one JVM
     * run of three (JFR: float[] allocations in FloatVector.fma). Likewise no vector may be
     * passed to a call that is not always inlined: the partial-tile path once stored through
     * {@link #store} calls of its own, C2 (recompiling after that path's first use) left them out of
     * line as a cold medium method, and the train step ran 4x slower.
     */
    static void tileKernel(float[] ap, int ao, float[] bp, int bo, int kc, float[] c, int o, int ldc, boolean acc, int mr, int nr,
                           float[] tile) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
                c30 = c00, c31 = c00;
        for (int bi = bo, ai = ao, end = bo + kc * NR; bi < end; bi += NR, ai += MR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, bi);
            FloatVector b1 = FloatVector.fromArray(F, bp, bi + L);
            FloatVector x = FloatVector.broadcast(F, ap[ai]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[ai + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[ai + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[ai + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
        }
        boolean whole = mr == MR && nr == NR;
        float[] dst = whole ? c : tile;
        int d = whole ? o : 0, ld = whole ? ldc : NR;
        store(dst, d, acc && whole, c00, c01);
        store(dst, d + ld, acc && whole, c10, c11);
        store(dst, d + 2 * ld, acc && whole, c20, c21);
        store(dst, d + 3 * ld, acc && whole, c30, c31);
        if (!whole) copyTile(tile, mr, nr, c, o, ldc, acc);
    }

    /** C[r][q] (+)= tile[r][q] for the valid mr x nr part of a partial tile. */
    private static void copyTile(float[] tile, int mr, int nr, float[] c, int co, int ldc, boolean acc) {
        for (int r = 0; r < mr; r++)
            for (int q = 0; q < nr; q++)
                c[co + r * ldc + q] = acc ? c[co + r * ldc + q] + tile[r * NR + q] : tile[r * NR + q];
    }

    private static int rowStart(int aOff, int lda, int[] rowStarts, int i) {
        return aOff + (rowStarts == null ? i * lda : rowStarts[i]);
    }

    /**
     * {@link #sweep} with the four A rows of each block read in place, a[r0 + pc + p] ...
     * a[r3 + pc + p], instead of from a packed panel; rows past i1 repeat the block's first row
     * (computed into the tile, never stored).
     */
    static void sweepRows(float[] a, int aOff, int lda, int[] rowStarts, int pc, int i0, int i1, float[] bp, int bo, int kc,
                                  float[] c, int co, int ldc, int nr, boolean acc, float[] tile) {
        for (int i = i0; i < i1; i += MR) {
            int mr = Math.min(MR, i1 - i);
            int r0 = rowStart(aOff, lda, rowStarts, i) + pc;
            int r1 = mr > 1 ? rowStart(aOff, lda, rowStarts, i + 1) + pc : r0;
            int r2 = mr > 2 ? rowStart(aOff, lda, rowStarts, i + 2) + pc : r0;
            int r3 = mr > 3 ? rowStart(aOff, lda, rowStarts, i + 3) + pc : r0;
            tileKernelRows(a, r0, r1, r2, r3, bp, bo, kc, c, co + i * ldc, ldc, acc, mr, nr, tile);
        }
    }

    /**
     * {@link #tileKernel} with the tile's four A rows read in place from a[r0 + p] ... a[r3 + p].
     * The loop runs on A's index, rows 1-3 as distances from row 0 and B's index derived from
     * it, so every index is the loop variable plus an invariant (C2 drops all range checks) and
     * fewer values live across the loop: with a counter p and four row starts C2 reloaded B's
     * offset from the stack and moved A's array through a vector register every k step. Measured
     * (one thread, b128, jars alternating 3 times, GFLOP/s forward+backward, where weight
     * gradients run here): 3x3 64->64 14x14 ~89 -> ~95, 48->96 7x7 ~48 -> ~51, stride-2 32->64
     * 28x28 49 -> ~52, 32->32 28x28 ~79 -> ~82. One reload (a row distance) is left. The store
     * epilogue repeats tileKernel's rather than taking the eight vectors through a helper (see
     * tileKernel on vectors passed to calls).
     */
    static void tileKernelRows(float[] a, int r0, int r1, int r2, int r3, float[] bp, int bo, int kc, float[] c, int o, int ldc, boolean acc,
                               int mr, int nr, float[] tile) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
                c30 = c00, c31 = c00;
        int d1 = r1 - r0, d2 = r2 - r0, d3 = r3 - r0;
        for (int ai = r0, end = r0 + kc, shift = bo - r0 * NR; ai < end; ai++) {
            int bi = ai * NR + shift;
            FloatVector b0 = FloatVector.fromArray(F, bp, bi);
            FloatVector b1 = FloatVector.fromArray(F, bp, bi + L);
            FloatVector x = FloatVector.broadcast(F, a[ai]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, a[ai + d1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, a[ai + d2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, a[ai + d3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
        }
        boolean whole = mr == MR && nr == NR;
        float[] dst = whole ? c : tile;
        int d = whole ? o : 0, ld = whole ? ldc : NR;
        store(dst, d, acc && whole, c00, c01);
        store(dst, d + ld, acc && whole, c10, c11);
        store(dst, d + 2 * ld, acc && whole, c20, c21);
        store(dst, d + 3 * ld, acc && whole, c30, c31);
        if (!whole) copyTile(tile, mr, nr, c, o, ldc, acc);
    }

    /** Writes (or with acc adds) one tile row of two vectors at c[o]. */
    private static void store(float[] c, int o, boolean acc, FloatVector v0, FloatVector v1) {
        if (acc) {
            v0 = v0.add(FloatVector.fromArray(F, c, o));
            v1 = v1.add(FloatVector.fromArray(F, c, o + L));
        }
        v0.intoArray(c, o);
        v1.intoArray(c, o + L);
    }
}
