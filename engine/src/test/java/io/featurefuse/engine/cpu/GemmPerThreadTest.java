package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A product whose B each thread packs for itself (PackedB.perThread: op(A) of 256 rows or more, B
 * small) gives every entry as the sequential fma chain, as one shared copy does: the workers read
 * their own copies at the shared layout's offsets. 300 rows (a partial row block), 70 columns
 * (a partial panel), k = 500; on one thread the shared copy is what is checked.
 */
class GemmPerThreadTest {
    private static final int M = 300, N = 70, K = 500;

    @ParameterizedTest
    @CsvSource({"false", "true"})
    void everyEntryIsTheSequentialFmaChain(boolean transB) {
        assertTrue(M >= PackedB.PER_THREAD_MIN_ROWS && (long) K * 96 <= PackedB.PER_THREAD_MAX_FLOATS, "the product is packed per thread");
        SplittableRandom r = new SplittableRandom(21);
        float[] a = new float[M * K], b = new float[K * N], c = new float[M * N];
        for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        for (int i = 0; i < b.length; i++) b[i] = (float) (r.nextDouble() * 2 - 1);
        for (int round = 0; round < 3; round++) { // later calls find the threads' copies of the earlier ones
            for (int i = 0; i < b.length; i++) b[i] = -b[i];
            Gemm.sgemm(1, M, N, K, a, 0, 0, false, K, b, 0, 0, transB, transB ? K : N, c, 0, 0, N);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    float s = 0;
                    for (int p = 0; p < K; p++) s = Math.fma(a[i * K + p], b[transB ? j * K + p : p * N + j], s);
                    assertEquals(s, c[i * N + j], "round " + round + ": C[" + i + "][" + j + "] is not the sequential fma chain");
                }
        }
    }
}
