package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Products big enough that a task's C region is accumulated in a stage over several k blocks
 * (GemmTask.compute): 2047 rows make 512-row tasks on two threads where tall tasks take shallow k blocks
 * (Gemm.MAX_CHUNK_BLOCKS), else 256-row tasks (64 rows on eight threads, still over the stage
 * threshold), 601 columns end in a partial panel, and k just over Gemm.KC is two k
 * blocks (2100: two of 1050) or, where tall tasks take Gemm.TALL_KC, more (9 of 234 at 256; the
 * four-row run sets 96: 22 of at most 96). Entries are checked against float64 sums on the edges and at
 * random; C's row padding must stay untouched.
 */
class GemmStageTest {
    private static final int M = 2047, N = 601, K = Gemm.KC + 52, LDC = N + 5;

    @Test
    void kTakesTwoBlocks() {
        assertEquals(2, (K + Gemm.kBlock(K) - 1) / Gemm.kBlock(K), "k blocks of " + Gemm.kBlock(K) + " for k = " + K);
    }

    @ParameterizedTest
    @CsvSource({"false, false", "true, false", "false, true", "true, true"})
    void stagedProductMatchesFloat64(boolean transA, boolean transB) {
        SplittableRandom r = new SplittableRandom(11);
        float[] a = random(r, M * K), b = random(r, K * N), c = new float[M * LDC];
        java.util.Arrays.fill(c, Float.NaN);
        int lda = transA ? M : K, ldb = transB ? K : N;
        Gemm.sgemm(1, M, N, K, a, 0, 0, transA, lda, b, 0, 0, transB, ldb, c, 0, 0, LDC);
        for (int i = 0; i < M; i++)
            for (int j = N; j < LDC; j++) assertTrue(Float.isNaN(c[i * LDC + j]), "padding of row " + i + " was written");
        check(c, (i, j) -> {
            double s = 0;
            for (int p = 0; p < K; p++) s += (double) a[transA ? p * M + i : i * K + p] * b[transB ? j * K + p : p * N + j];
            return s;
        }, r);
    }

    /** The same through sgemmRows: A's rows read in place at arbitrary offsets (the weight gradient's route). */
    @ParameterizedTest
    @CsvSource({"false", "true"})
    void stagedRowsProductMatchesFloat64(boolean transB) {
        SplittableRandom r = new SplittableRandom(12);
        float[] a = random(r, M + K + 64), b = random(r, K * N), c = new float[M * LDC];
        int[] starts = new int[M];
        for (int i = 0; i < M; i++) starts[i] = r.nextInt(M + 64);
        int ldb = transB ? K : N;
        Gemm.sgemmRows(M, N, K, a, 0, starts, b, 0, transB, ldb, c, 0, LDC);
        check(c, (i, j) -> {
            double s = 0;
            for (int p = 0; p < K; p++) s += (double) a[starts[i] + p] * b[transB ? j * K + p : p * N + j];
            return s;
        }, r);
    }

    /**
     * Every entry is the plain chain c = fma(a_p, b_p, c) over p in order, in float32, whatever
     * the blocking: a tile accumulating over a second k block goes on from C's values, a partial
     * tile (the bottom row block, 2047 = 255 x 8 + 7, and the last panel) from C's valid part (see
     * GemmTiles), so neither KC nor the rows of a tile nor the thread count changes a bit. On two
     * threads where tasks are 512 rows, four row chunks make too few tasks and the columns split in two
     * groups, one of them the right-hand task (columns 512 to 601) ending in the partial panel; the
     * four-row kernel is checked by the suite's four-row run.
     */
    @ParameterizedTest
    @CsvSource({"false, false", "true, true"})
    void everyEntryIsTheSequentialFmaChain(boolean transA, boolean transB) {
        SplittableRandom r = new SplittableRandom(13);
        float[] a = random(r, M * K), b = random(r, K * N), c = new float[M * LDC];
        int lda = transA ? M : K, ldb = transB ? K : N;
        Gemm.sgemm(1, M, N, K, a, 0, 0, transA, lda, b, 0, 0, transB, ldb, c, 0, 0, LDC);
        chains(c, (i, p) -> a[transA ? p * M + i : i * K + p], (p, j) -> b[transB ? j * K + p : p * N + j], r);
    }

    /** The same through sgemmRows, whose tiles read A's rows in place. */
    @Test
    void everyRowsEntryIsTheSequentialFmaChain() {
        SplittableRandom r = new SplittableRandom(14);
        float[] a = random(r, M + K + 64), b = random(r, K * N), c = new float[M * LDC];
        int[] starts = new int[M];
        for (int i = 0; i < M; i++) starts[i] = r.nextInt(M + 64);
        Gemm.sgemmRows(M, N, K, a, 0, starts, b, 0, false, N, c, 0, LDC);
        chains(c, (i, p) -> a[starts[i] + p], (p, j) -> b[p * N + j], r);
    }

    private interface Operand {
        float at(int row, int col);
    }

    /** Checks the first panel's columns, the last piece's (512 on, ending in the partial panel) and one at random, in every row. */
    private static void chains(float[] c, Operand a, Operand b, SplittableRandom r) {
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < 32; j++) chain(c, a, b, i, j);
            for (int j = 512; j < N; j++) chain(c, a, b, i, j);
            chain(c, a, b, i, r.nextInt(N));
        }
    }

    private static void chain(float[] c, Operand a, Operand b, int i, int j) {
        float s = 0;
        for (int p = 0; p < K; p++) s = Math.fma(a.at(i, p), b.at(p, j), s);
        assertEquals(s, c[i * LDC + j], "C[" + i + "][" + j + "] is not the sequential fma chain");
    }

    private interface Entry {
        double at(int i, int j);
    }

    private static void check(float[] c, Entry ref, SplittableRandom r) {
        for (int i = 0; i < M; i += M - 1)
            for (int j = 0; j < N; j++) near(c, ref, i, j);
        for (int j = 0; j < N; j += N - 1)
            for (int i = 0; i < M; i++) near(c, ref, i, j);
        for (int t = 0; t < 4000; t++) near(c, ref, r.nextInt(M), r.nextInt(N));
    }

    private static void near(float[] c, Entry ref, int i, int j) {
        double want = ref.at(i, j);
        assertEquals(want, c[i * LDC + j], 1e-4 * Math.sqrt(K) + 1e-5 * Math.abs(want), "C[" + i + "][" + j + "]");
    }

    private static float[] random(SplittableRandom r, int size) {
        float[] v = new float[size];
        for (int i = 0; i < size; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }
}
