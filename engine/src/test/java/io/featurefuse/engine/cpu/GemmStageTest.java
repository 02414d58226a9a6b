package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Products big enough that a task's C region is accumulated in a stage over several k blocks
 * (Gemm.block): 2047 rows make 256-row tasks on up to two threads (64 rows on eight, still over
 * the stage threshold), 601 columns end in a partial panel, and k just over Gemm.KC is two k
 * blocks (2100: two of 1050). Entries are checked against float64 sums on the edges and at
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
     * A staged task computes every whole 8-row tile from its first k step to its last, so each such
     * entry is the plain chain c = fma(a_p, b_p, c) over p in order, in float32: the same bits
     * however the work was cut. With two or more threads the last round of tasks is cut into column
     * pieces; a piece deciding on its own whether to stage (the last piece, 256 x 89, would not)
     * would add its partial right-hand tile per k block and change those columns' bits. (The
     * four-row kernel adds each k block's sums to C at the end instead, so this holds for 8 rows.)
     */
    @ParameterizedTest
    @CsvSource({"false, false", "true, true"})
    void wholeTileEntriesAreTheSequentialFmaChain(boolean transA, boolean transB) {
        assumeTrue(Gemm.MR == 8, "the four-row kernel adds each k block's sums to C at the tile's end");
        SplittableRandom r = new SplittableRandom(13);
        float[] a = random(r, M * K), b = random(r, K * N), c = new float[M * LDC];
        int lda = transA ? M : K, ldb = transB ? K : N, wholeRows = M / 8 * 8;
        Gemm.sgemm(1, M, N, K, a, 0, 0, transA, lda, b, 0, 0, transB, ldb, c, 0, 0, LDC);
        for (int i = 0; i < wholeRows; i++) {
            for (int j = 0; j < 32; j++) exact(c, a, b, transA, transB, i, j); // the first panel
            for (int j = 512; j < N; j++) exact(c, a, b, transA, transB, i, j); // the last piece, ending in the partial panel
            exact(c, a, b, transA, transB, i, r.nextInt(N));
        }
    }

    private static void exact(float[] c, float[] a, float[] b, boolean transA, boolean transB, int i, int j) {
        float s = 0;
        for (int p = 0; p < K; p++) s = Math.fma(a[transA ? p * M + i : i * K + p], b[transB ? j * K + p : p * N + j], s);
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
