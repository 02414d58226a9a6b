package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Gemm.MR;
import static io.featurefuse.engine.cpu.Gemm.NR;
import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;

/**
 * {@link Gemm}'s register tiles: MR rows x two vectors of C held in registers over a k block,
 * B kc rows of NR floats (a packed micro-panel, or read in place ldb apart), A packed (see
 * PackedA) or read in place. Four-row tiles for CPUs with 16 vector registers, eight-row
 * tiles where there are 32 (see Gemm.MR); the sweeps pick one by MR, a constant, so only one is
 * ever compiled.
 *
 * <p>Accumulating (acc), a tile starts from C's values and goes on with its FMAs. The kernels only
 * see whole tiles: a sweep runs a partial tile (mr rows, nr columns valid) on its scratch
 * {@code tile}, NR floats a row, after copying C's valid part there, and copies the valid part
 * back (copying in the kernel kept three more values live across its k loop, and C2 moved the
 * loop counter of the rows kernel to the stack). So every entry of C is one float32 chain
 * c = fma(a_p, b_p, c) over all of k in order, however k was cut into blocks: the blocking (Gemm.KC,
 * the thread count, 4 or 8 rows) changes no bit of a product. Adding each block's sums to C at
 * the end, as the four-row tiles and all partial tiles did, made the bits depend on the blocking.
 */
final class GemmTiles {
    private GemmTiles() {}

    /**
     * The micro-kernel run down row blocks [i0, i1) against one B micro-panel (kc x NR at
     * bp[bo]), C columns from c[co] (nr of them valid): C (+)= ap . bp with A packed from ap[a0]
     * (MR x kc micro-panels, see PackedA), one tile kernel call per row block: {@link #tileKernel}
     * with 4 rows, {@link #tileKernel8} with 8, or {@link #tileKernel8Narrow} where the panel's
     * valid columns fit one vector.
     */
    static void sweep(float[] ap, int a0, int i0, int i1, float[] bp, int bo, int kc, float[] c, int co, int ldc, int nr, boolean acc,
                      float[] tile) {
        sweep(ap, a0, i0, i1, bp, bo, NR, kc, c, co, ldc, nr, acc, tile);
    }

    /**
     * {@link #sweep} with B's kc rows of NR floats ldb apart in bp from bo, not one after another:
     * B read where it lies, e.g. NR columns of a 1x1 layer's input planes (see ImplicitConv.planeProduct).
     */
    static void sweep(float[] ap, int a0, int i0, int i1, float[] bp, int bo, int ldb, int kc, float[] c, int co, int ldc, int nr,
                      boolean acc, float[] tile) {
        boolean narrow = MR == 8 && nr <= L;
        for (int i = i0, ao = a0; i < i1; i += MR, ao += kc * MR) {
            int mr = Math.min(MR, i1 - i), o = co + i * ldc;
            boolean whole = mr == MR && nr == (narrow ? L : NR);
            if (!whole && acc) loadTile(c, o, ldc, mr, nr, tile);
            float[] t = whole ? c : tile;
            int to = whole ? o : 0, tl = whole ? ldc : NR;
            if (narrow) tileKernel8Narrow(ap, ao, bp, bo, ldb, kc, t, to, tl, acc);
            else if (MR == 8 && ldb == NR) tileKernel8(ap, ao, bp, bo, kc, t, to, tl, acc);
            else if (MR == 8) tileKernel8Strided(ap, ao, bp, bo, ldb, kc, t, to, tl, acc);
            else tileKernel(ap, ao, bp, bo, ldb, kc, t, to, tl, acc);
            if (!whole) copyTile(tile, mr, nr, c, o, ldc);
        }
    }

    /**
     * {@link #tileKernel8} for a panel whose valid columns fit one vector (nr <= L): only the
     * panel's first vector is multiplied, half the FMAs of the full tile. Such a panel ends a row
     * of columns whose count is not a multiple of NR, e.g. 196 = 6 x 32 + 4 outputs of a 14x14
     * plane, where the full tile computed 28 columns to drop 12.5% of the 1x1 layer's work.
     * Eight independent chains still cover the FMA latency. A sweep runs it on its scratch
     * tile unless it is exactly 8 x L.
     */
    static void tileKernel8Narrow(float[] ap, int ao, float[] bp, int bo, int ldb, int kc, float[] c, int o, int ldc, boolean acc) {
        FloatVector z = FloatVector.zero(F);
        FloatVector c0 = acc ? FloatVector.fromArray(F, c, o) : z, c1 = acc ? FloatVector.fromArray(F, c, o + ldc) : z;
        FloatVector c2 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc) : z, c3 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc) : z;
        FloatVector c4 = acc ? FloatVector.fromArray(F, c, o + 4 * ldc) : z, c5 = acc ? FloatVector.fromArray(F, c, o + 5 * ldc) : z;
        FloatVector c6 = acc ? FloatVector.fromArray(F, c, o + 6 * ldc) : z, c7 = acc ? FloatVector.fromArray(F, c, o + 7 * ldc) : z;
        for (int ai = ao, bi = bo, end = ao + kc * 8; ai < end; ai += 8, bi += ldb) {
            FloatVector b0 = FloatVector.fromArray(F, bp, bi);
            c0 = FloatVector.broadcast(F, ap[ai]).fma(b0, c0);
            c1 = FloatVector.broadcast(F, ap[ai + 1]).fma(b0, c1);
            c2 = FloatVector.broadcast(F, ap[ai + 2]).fma(b0, c2);
            c3 = FloatVector.broadcast(F, ap[ai + 3]).fma(b0, c3);
            c4 = FloatVector.broadcast(F, ap[ai + 4]).fma(b0, c4);
            c5 = FloatVector.broadcast(F, ap[ai + 5]).fma(b0, c5);
            c6 = FloatVector.broadcast(F, ap[ai + 6]).fma(b0, c6);
            c7 = FloatVector.broadcast(F, ap[ai + 7]).fma(b0, c7);
        }
        c0.intoArray(c, o);
        c1.intoArray(c, o + ldc);
        c2.intoArray(c, o + 2 * ldc);
        c3.intoArray(c, o + 3 * ldc);
        c4.intoArray(c, o + 4 * ldc);
        c5.intoArray(c, o + 5 * ldc);
        c6.intoArray(c, o + 6 * ldc);
        c7.intoArray(c, o + 7 * ldc);
    }

    /**
     * One MR x 2-vector register tile: C[o..] (+)= A (packed MR x kc at ap[ao]) . B (kc x NR at
     * bp[bo]), rows ldc apart (a partial tile: see the class comment). C2 loads all of an
     * iteration's operands before the first FMA, so the tile must fit 16 vector registers (AVX2)
     * together with them: 8 accumulators + 2 B vectors + 4 broadcasts. At 5 or 6 rows, or unrolled over k, C2 spilled an accumulator and the kernel
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
     * calls of a helper of its own, C2 (recompiling after that path's first use) left them out of
     * line as a cold medium method, and the train step ran 4x slower.
     */
    static void tileKernel(float[] ap, int ao, float[] bp, int bo, int ldb, int kc, float[] c, int o, int ldc, boolean acc) {
        FloatVector z = FloatVector.zero(F);
        FloatVector c00 = acc ? FloatVector.fromArray(F, c, o) : z, c01 = acc ? FloatVector.fromArray(F, c, o + L) : z;
        FloatVector c10 = acc ? FloatVector.fromArray(F, c, o + ldc) : z, c11 = acc ? FloatVector.fromArray(F, c, o + ldc + L) : z;
        FloatVector c20 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc) : z, c21 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc + L) : z;
        FloatVector c30 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc) : z, c31 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc + L) : z;
        for (int ai = ao, bi = bo, end = ao + kc * 4; ai < end; ai += 4, bi += ldb) {
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
        c00.intoArray(c, o); c01.intoArray(c, o + L);
        c10.intoArray(c, o + ldc); c11.intoArray(c, o + ldc + L);
        c20.intoArray(c, o + 2 * ldc); c21.intoArray(c, o + 2 * ldc + L);
        c30.intoArray(c, o + 3 * ldc); c31.intoArray(c, o + 3 * ldc + L);
    }

    /**
     * {@link #tileKernel} with eight rows (16 accumulators, which fit AVX-512's 32 registers with
     * B's two vectors and the broadcasts) and B a packed micro-panel, its rows NR floats apart.
     *
     * <p>Why B's step is the constant NR and the loop counts k steps: every index is then the
     * counter times a constant plus an invariant, so C2 drops the range checks from the loop, and
     * fewer values live across it. Stepping B by ldb (as {@link #tileKernel8Strided} must), C2
     * checked both of B's loads in every k step and, short of registers, kept B's array and ldb
     * in vector registers, moving them back in every step: three moves that on Intel take port
     * 0, one of the two ports the 16 FMAs need. Measured on the Xeon (AVX-512, one thread, 32
     * tiles against each of 4 panels of 256 x 32, A in L2, all on lines, one JVM alternating
     * the kernels): 161-162 -> 194 GFLOP/s median, 179 -> 207 best (FMA peak 218-229). In whole
     * calls, where B's first sweep waits on memory (see Gemm), less: fuse bench, jars alternating
     * twice, conv3x3 64->64 14x14 b128 forward 359/364 -> 377/381 GFLOP/s (medians), SGEMM and the
     * model's step within noise. (On Zen 5, whose integer ops do not share the FMA ports, stepping
     * B by NR once measured -0.4% in whole SGEMM calls.)
     */
    static void tileKernel8(float[] ap, int ao, float[] bp, int bo, int kc, float[] c, int o, int ldc, boolean acc) {
        // Accumulating, the tile starts from C (see the class comment). (Once the eight-row tile
        // added C at the end through a helper taking two vectors: that epilogue outgrew C2's node
        // budget, the helper stayed out of line and every vector passed to it was boxed: ~8x slower.)
        FloatVector z = FloatVector.zero(F);
        FloatVector c00 = acc ? FloatVector.fromArray(F, c, o) : z, c01 = acc ? FloatVector.fromArray(F, c, o + L) : z;
        FloatVector c10 = acc ? FloatVector.fromArray(F, c, o + ldc) : z, c11 = acc ? FloatVector.fromArray(F, c, o + ldc + L) : z;
        FloatVector c20 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc) : z, c21 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc + L) : z;
        FloatVector c30 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc) : z, c31 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc + L) : z;
        FloatVector c40 = acc ? FloatVector.fromArray(F, c, o + 4 * ldc) : z, c41 = acc ? FloatVector.fromArray(F, c, o + 4 * ldc + L) : z;
        FloatVector c50 = acc ? FloatVector.fromArray(F, c, o + 5 * ldc) : z, c51 = acc ? FloatVector.fromArray(F, c, o + 5 * ldc + L) : z;
        FloatVector c60 = acc ? FloatVector.fromArray(F, c, o + 6 * ldc) : z, c61 = acc ? FloatVector.fromArray(F, c, o + 6 * ldc + L) : z;
        FloatVector c70 = acc ? FloatVector.fromArray(F, c, o + 7 * ldc) : z, c71 = acc ? FloatVector.fromArray(F, c, o + 7 * ldc + L) : z;
        for (int p = 0; p < kc; p++) {
            int ai = ao + 8 * p, bi = bo + NR * p;
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
            x = FloatVector.broadcast(F, ap[ai + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(F, ap[ai + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(F, ap[ai + 6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(F, ap[ai + 7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71);
        }
        c00.intoArray(c, o); c01.intoArray(c, o + L);
        c10.intoArray(c, o + ldc); c11.intoArray(c, o + ldc + L);
        c20.intoArray(c, o + 2 * ldc); c21.intoArray(c, o + 2 * ldc + L);
        c30.intoArray(c, o + 3 * ldc); c31.intoArray(c, o + 3 * ldc + L);
        c40.intoArray(c, o + 4 * ldc); c41.intoArray(c, o + 4 * ldc + L);
        c50.intoArray(c, o + 5 * ldc); c51.intoArray(c, o + 5 * ldc + L);
        c60.intoArray(c, o + 6 * ldc); c61.intoArray(c, o + 6 * ldc + L);
        c70.intoArray(c, o + 7 * ldc); c71.intoArray(c, o + 7 * ldc + L);
    }

    /**
     * {@link #tileKernel8} with B's kc rows ldb apart where they lie (see {@link #sweep}'s second
     * form). A copy of it but for the k loop, because one method holding both loops (chosen by ldb ==
     * NR) measured the packed loop at 134-137 GFLOP/s against 188-193 alone (same harness as
     * tileKernel8's, two runs); tileKernelRows8Dense is such a copy of tileKernelRows8 likewise.
     */
    static void tileKernel8Strided(float[] ap, int ao, float[] bp, int bo, int ldb, int kc, float[] c, int o, int ldc, boolean acc) {
        // Accumulating, the tile starts from C (see the class comment). (Once the eight-row tile
        // added C at the end through a helper taking two vectors: that epilogue outgrew C2's node
        // budget, the helper stayed out of line and every vector passed to it was boxed: ~8x slower.)
        FloatVector z = FloatVector.zero(F);
        FloatVector c00 = acc ? FloatVector.fromArray(F, c, o) : z, c01 = acc ? FloatVector.fromArray(F, c, o + L) : z;
        FloatVector c10 = acc ? FloatVector.fromArray(F, c, o + ldc) : z, c11 = acc ? FloatVector.fromArray(F, c, o + ldc + L) : z;
        FloatVector c20 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc) : z, c21 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc + L) : z;
        FloatVector c30 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc) : z, c31 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc + L) : z;
        FloatVector c40 = acc ? FloatVector.fromArray(F, c, o + 4 * ldc) : z, c41 = acc ? FloatVector.fromArray(F, c, o + 4 * ldc + L) : z;
        FloatVector c50 = acc ? FloatVector.fromArray(F, c, o + 5 * ldc) : z, c51 = acc ? FloatVector.fromArray(F, c, o + 5 * ldc + L) : z;
        FloatVector c60 = acc ? FloatVector.fromArray(F, c, o + 6 * ldc) : z, c61 = acc ? FloatVector.fromArray(F, c, o + 6 * ldc + L) : z;
        FloatVector c70 = acc ? FloatVector.fromArray(F, c, o + 7 * ldc) : z, c71 = acc ? FloatVector.fromArray(F, c, o + 7 * ldc + L) : z;
        for (int ai = ao, bi = bo, end = ao + kc * 8; ai < end; ai += 8, bi += ldb) {
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
            x = FloatVector.broadcast(F, ap[ai + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(F, ap[ai + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(F, ap[ai + 6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(F, ap[ai + 7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71);
        }
        c00.intoArray(c, o); c01.intoArray(c, o + L);
        c10.intoArray(c, o + ldc); c11.intoArray(c, o + ldc + L);
        c20.intoArray(c, o + 2 * ldc); c21.intoArray(c, o + 2 * ldc + L);
        c30.intoArray(c, o + 3 * ldc); c31.intoArray(c, o + 3 * ldc + L);
        c40.intoArray(c, o + 4 * ldc); c41.intoArray(c, o + 4 * ldc + L);
        c50.intoArray(c, o + 5 * ldc); c51.intoArray(c, o + 5 * ldc + L);
        c60.intoArray(c, o + 6 * ldc); c61.intoArray(c, o + 6 * ldc + L);
        c70.intoArray(c, o + 7 * ldc); c71.intoArray(c, o + 7 * ldc + L);
    }

    /** tile[r][q] = C[r][q] for the valid mr x nr part of a partial tile, zero elsewhere: the sums it goes on from. */
    private static void loadTile(float[] c, int co, int ldc, int mr, int nr, float[] tile) {
        java.util.Arrays.fill(tile, 0f);
        for (int r = 0; r < mr; r++) System.arraycopy(c, co + r * ldc, tile, r * NR, nr);
    }

    /** C[r][q] = tile[r][q] for the valid mr x nr part of a partial tile. */
    private static void copyTile(float[] tile, int mr, int nr, float[] c, int co, int ldc) {
        for (int r = 0; r < mr; r++) System.arraycopy(tile, r * NR, c, co + r * ldc, nr);
    }


    /**
     * {@link #sweep} with the MR A rows of each block read in place, a[r0 + pc + p] ...
     * a[r(MR-1) + pc + p], instead of from a packed panel; rows past i1 repeat the block's first row
     * (computed into the tile, never stored).
     */
    static void sweepRows(float[] a, int aOff, int lda, int[] rowStarts, int pc, int i0, int i1, float[] bp, int bo, int kc,
                                  float[] c, int co, int ldc, int nr, boolean acc, float[] tile) {
        for (int i = i0; i < i1; i += MR) {
            int mr = Math.min(MR, i1 - i);
            int r0 = PackedA.rowStart(aOff, lda, rowStarts, i) + pc;
            int r1 = mr > 1 ? PackedA.rowStart(aOff, lda, rowStarts, i + 1) + pc : r0;
            int r2 = mr > 2 ? PackedA.rowStart(aOff, lda, rowStarts, i + 2) + pc : r0;
            int r3 = mr > 3 ? PackedA.rowStart(aOff, lda, rowStarts, i + 3) + pc : r0;
            int o = co + i * ldc;
            boolean whole = mr == MR && nr == NR;
            if (!whole && acc) loadTile(c, o, ldc, mr, nr, tile);
            float[] t = whole ? c : tile;
            int to = whole ? o : 0, tl = whole ? ldc : NR;
            if (MR == 8 && mr == MR && rowStarts == null && lda == NR) {
                tileKernelRows8Dense(a, r0, bp, bo, kc, t, to, tl, acc);
            } else if (MR == 8) {
                int r4 = mr > 4 ? PackedA.rowStart(aOff, lda, rowStarts, i + 4) + pc : r0;
                int r5 = mr > 5 ? PackedA.rowStart(aOff, lda, rowStarts, i + 5) + pc : r0;
                int r6 = mr > 6 ? PackedA.rowStart(aOff, lda, rowStarts, i + 6) + pc : r0;
                int r7 = mr > 7 ? PackedA.rowStart(aOff, lda, rowStarts, i + 7) + pc : r0;
                tileKernelRows8(a, r0, r1 - r0, r2 - r0, r3 - r0, r4 - r0, r5 - r0, r6 - r0, r7 - r0, bp, bo, kc, t, to, tl, acc);
            } else {
                tileKernelRows(a, r0, r1, r2, r3, bp, bo, kc, t, to, tl, acc);
            }
            if (!whole) copyTile(tile, mr, nr, c, o, ldc);
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
     * 28x28 49 -> ~52, 32->32 28x28 ~79 -> ~82. One reload (a row distance) is left. The loads and
     * stores of C repeat tileKernel's rather than taking the vectors through a helper (see
     * tileKernel on vectors passed to calls).
     */
    static void tileKernelRows(float[] a, int r0, int r1, int r2, int r3, float[] bp, int bo, int kc, float[] c, int o, int ldc,
                               boolean acc) {
        FloatVector z = FloatVector.zero(F);
        FloatVector c00 = acc ? FloatVector.fromArray(F, c, o) : z, c01 = acc ? FloatVector.fromArray(F, c, o + L) : z;
        FloatVector c10 = acc ? FloatVector.fromArray(F, c, o + ldc) : z, c11 = acc ? FloatVector.fromArray(F, c, o + ldc + L) : z;
        FloatVector c20 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc) : z, c21 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc + L) : z;
        FloatVector c30 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc) : z, c31 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc + L) : z;
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
        c00.intoArray(c, o); c01.intoArray(c, o + L);
        c10.intoArray(c, o + ldc); c11.intoArray(c, o + ldc + L);
        c20.intoArray(c, o + 2 * ldc); c21.intoArray(c, o + 2 * ldc + L);
        c30.intoArray(c, o + 3 * ldc); c31.intoArray(c, o + 3 * ldc + L);
    }

    /** {@link #tileKernelRows} with eight rows, rows 1-7 given as distances d1..d7 from row 0 at r0. */
    static void tileKernelRows8(float[] a, int r0, int d1, int d2, int d3, int d4, int d5, int d6, int d7, float[] bp, int bo, int kc,
                                float[] c, int o, int ldc, boolean acc) {
        // Accumulating, the tile starts from C (see the class comment). (Once the eight-row tile
        // added C at the end through a helper taking two vectors: that epilogue outgrew C2's node
        // budget, the helper stayed out of line and every vector passed to it was boxed: ~8x slower.)
        FloatVector z = FloatVector.zero(F);
        FloatVector c00 = acc ? FloatVector.fromArray(F, c, o) : z, c01 = acc ? FloatVector.fromArray(F, c, o + L) : z;
        FloatVector c10 = acc ? FloatVector.fromArray(F, c, o + ldc) : z, c11 = acc ? FloatVector.fromArray(F, c, o + ldc + L) : z;
        FloatVector c20 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc) : z, c21 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc + L) : z;
        FloatVector c30 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc) : z, c31 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc + L) : z;
        FloatVector c40 = acc ? FloatVector.fromArray(F, c, o + 4 * ldc) : z, c41 = acc ? FloatVector.fromArray(F, c, o + 4 * ldc + L) : z;
        FloatVector c50 = acc ? FloatVector.fromArray(F, c, o + 5 * ldc) : z, c51 = acc ? FloatVector.fromArray(F, c, o + 5 * ldc + L) : z;
        FloatVector c60 = acc ? FloatVector.fromArray(F, c, o + 6 * ldc) : z, c61 = acc ? FloatVector.fromArray(F, c, o + 6 * ldc + L) : z;
        FloatVector c70 = acc ? FloatVector.fromArray(F, c, o + 7 * ldc) : z, c71 = acc ? FloatVector.fromArray(F, c, o + 7 * ldc + L) : z;
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
            x = FloatVector.broadcast(F, a[ai + d4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(F, a[ai + d5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(F, a[ai + d6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(F, a[ai + d7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71);
        }
        c00.intoArray(c, o); c01.intoArray(c, o + L);
        c10.intoArray(c, o + ldc); c11.intoArray(c, o + ldc + L);
        c20.intoArray(c, o + 2 * ldc); c21.intoArray(c, o + 2 * ldc + L);
        c30.intoArray(c, o + 3 * ldc); c31.intoArray(c, o + 3 * ldc + L);
        c40.intoArray(c, o + 4 * ldc); c41.intoArray(c, o + 4 * ldc + L);
        c50.intoArray(c, o + 5 * ldc); c51.intoArray(c, o + 5 * ldc + L);
        c60.intoArray(c, o + 6 * ldc); c61.intoArray(c, o + 6 * ldc + L);
        c70.intoArray(c, o + 7 * ldc); c71.intoArray(c, o + 7 * ldc + L);
    }

    /**
     * {@link #tileKernelRows8} with the eight rows NR floats apart: sweepRows' choice for a plain A
     * with lda = NR, such as a Winograd weight gradient's V block when its step is NR tiles. Each
     * row's offset is then a constant, which C2 folds into the broadcasts' addresses, where the
     * distances d1..d7 took an add each
     * (some from the stack) in every k step; on Intel those integer ops share ports with the FMAs
     * (see tileKernel8). Measured on the Xeon: the tile alone, one thread, kc = 32, in cache, same
     * bits, medians 112 -> 126 and 128 -> 132 GFLOP/s (two runs); the 3x3 32->32 28x28 b128 weight
     * gradient (F(4x4), two threads, JVMs alternating 5 times) 6.44-7.41 -> 6.03-6.64 ms median;
     * 64->64 14x14 and 48->96 7x7 unchanged.
     */
    static void tileKernelRows8Dense(float[] a, int r0, float[] bp, int bo, int kc, float[] c, int o, int ldc, boolean acc) {
        FloatVector z = FloatVector.zero(F);
        FloatVector c00 = acc ? FloatVector.fromArray(F, c, o) : z, c01 = acc ? FloatVector.fromArray(F, c, o + L) : z;
        FloatVector c10 = acc ? FloatVector.fromArray(F, c, o + ldc) : z, c11 = acc ? FloatVector.fromArray(F, c, o + ldc + L) : z;
        FloatVector c20 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc) : z, c21 = acc ? FloatVector.fromArray(F, c, o + 2 * ldc + L) : z;
        FloatVector c30 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc) : z, c31 = acc ? FloatVector.fromArray(F, c, o + 3 * ldc + L) : z;
        FloatVector c40 = acc ? FloatVector.fromArray(F, c, o + 4 * ldc) : z, c41 = acc ? FloatVector.fromArray(F, c, o + 4 * ldc + L) : z;
        FloatVector c50 = acc ? FloatVector.fromArray(F, c, o + 5 * ldc) : z, c51 = acc ? FloatVector.fromArray(F, c, o + 5 * ldc + L) : z;
        FloatVector c60 = acc ? FloatVector.fromArray(F, c, o + 6 * ldc) : z, c61 = acc ? FloatVector.fromArray(F, c, o + 6 * ldc + L) : z;
        FloatVector c70 = acc ? FloatVector.fromArray(F, c, o + 7 * ldc) : z, c71 = acc ? FloatVector.fromArray(F, c, o + 7 * ldc + L) : z;
        for (int p = 0; p < kc; p++) {
            int ai = r0 + p, bi = bo + NR * p;
            FloatVector b0 = FloatVector.fromArray(F, bp, bi);
            FloatVector b1 = FloatVector.fromArray(F, bp, bi + L);
            FloatVector x = FloatVector.broadcast(F, a[ai]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, a[ai + 1 * NR]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, a[ai + 2 * NR]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, a[ai + 3 * NR]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(F, a[ai + 4 * NR]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(F, a[ai + 5 * NR]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(F, a[ai + 6 * NR]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(F, a[ai + 7 * NR]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71);
        }
        c00.intoArray(c, o); c01.intoArray(c, o + L);
        c10.intoArray(c, o + ldc); c11.intoArray(c, o + ldc + L);
        c20.intoArray(c, o + 2 * ldc); c21.intoArray(c, o + 2 * ldc + L);
        c30.intoArray(c, o + 3 * ldc); c31.intoArray(c, o + 3 * ldc + L);
        c40.intoArray(c, o + 4 * ldc); c41.intoArray(c, o + 4 * ldc + L);
        c50.intoArray(c, o + 5 * ldc); c51.intoArray(c, o + 5 * ldc + L);
        c60.intoArray(c, o + 6 * ldc); c61.intoArray(c, o + 6 * ldc + L);
        c70.intoArray(c, o + 7 * ldc); c71.intoArray(c, o + 7 * ldc + L);
    }
}
