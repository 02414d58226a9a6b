package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** The packed GEMM (float32) against the float64 reference, over awkward sizes, layouts and batches. */
class MatMulTest {

    @Property(tries = 60)
    void fastMatchesReference(@ForAll @IntRange(min = 1, max = 70) int m, @ForAll @IntRange(min = 1, max = 80) int n,
                              @ForAll @IntRange(min = 1, max = 70) int k, @ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        // Sometimes a deep k, to cross the KC block boundary of the packed kernel.
        if (r.nextInt(5) == 0) k += 250 + r.nextInt(300);
        // Sometimes a wide n: narrow products read A in place, wide ones pack it (at any vector width).
        if (r.nextInt(4) == 0) n += 130 + r.nextInt(200);
        boolean transA = r.nextBoolean(), transB = r.nextBoolean();
        Tensor a = transA ? Fixtures.values(seed, -1, 1, k, m).transpose(0, 1) : Fixtures.values(seed, -1, 1, m, k);
        Tensor b = transB ? Fixtures.values(seed + 1, -1, 1, n, k).transpose(0, 1) : Fixtures.values(seed + 1, -1, 1, k, n);
        Tensor ref = a.matmul(b);
        assertClose("matmul " + m + "x" + k + " . " + k + "x" + n + " transA " + transA + " transB " + transB,
                a.to(DType.F32).matmul(b.to(DType.F32)), ref, 2e-6 * k, 1e-5);
    }

    @Property(tries = 30)
    void batchedAndBroadcastMatchReference(@ForAll @IntRange(min = 1, max = 4) int b0, @ForAll @IntRange(min = 1, max = 3) int b1,
                                           @ForAll @IntRange(min = 1, max = 20) int m, @ForAll @IntRange(min = 1, max = 40) int n,
                                           @ForAll @IntRange(min = 1, max = 20) int k, @ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] aDims = r.nextBoolean() ? new int[] {b0, b1, m, k} : new int[] {b1, m, k};
        int[] bDims = switch (r.nextInt(3)) {
            case 0 -> new int[] {k, n};
            case 1 -> new int[] {b0, 1, k, n};
            default -> new int[] {1, b1, k, n};
        };
        Tensor a = Fixtures.values(seed, -1, 1, aDims), b = Fixtures.values(seed + 1, -1, 1, bDims);
        assertClose("batched matmul " + a.shape() + " . " + b.shape(), a.to(DType.F32).matmul(b.to(DType.F32)), a.matmul(b), 2e-6 * k, 1e-5);
    }

    @Property(tries = 15)
    void gradients(@ForAll @IntRange(min = 1, max = 5) int m, @ForAll @IntRange(min = 1, max = 5) int n,
                   @ForAll @IntRange(min = 1, max = 5) int k, @ForAll @IntRange(min = 1, max = 3) int batch, @ForAll long seed) {
        Tensor a = Fixtures.values(seed, -1, 1, batch, m, k), b = Fixtures.values(seed + 1, -1, 1, k, n);
        GradCheck.check("matmul", in -> in.get(0).matmul(in.get(1)), a, b);
        Tensor w = Fixtures.values(seed + 2, -1, 1, n, k), bias = Fixtures.values(seed + 3, -1, 1, n);
        GradCheck.check("linear", in -> in.get(0).linear(in.get(1), in.get(2)), a, w, bias);
        Tensor v = Fixtures.values(seed + 4, -1, 1, k);
        GradCheck.check("matrix . vector", in -> in.get(0).matmul(in.get(1)), Fixtures.values(seed, -1, 1, m, k), v);
        GradCheck.check("vector . matrix", in -> in.get(1).matmul(in.get(0)), b, v);
    }

    @Test
    void knownProductAndShapes() {
        Tensor a = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor b = Tensor.of(new float[] {7, 8, 9, 10, 11, 12}, 3, 2);
        assertArrayEquals(new double[] {58, 64, 139, 154}, a.matmul(b).toArray());
        assertEquals(Shape.of(2), a.matmul(Tensor.ones(3)).shape());
        assertEquals(Shape.of(), Tensor.ones(3).matmul(Tensor.ones(3)).shape());
        var e = assertThrows(IllegalArgumentException.class, () -> a.matmul(a));
        assertEquals("matmul: shapes [2, 3] and [2, 3] cannot be multiplied (3 columns vs 2 rows)", e.getMessage());
    }

    @Test
    void largeProductIsDeterministicAndCorrect() {
        Tensor a = Fixtures.values(1, -1, 1, 300, 517), b = Fixtures.values(2, -1, 1, 517, 301);
        Tensor fa = a.to(DType.F32), fb = b.to(DType.F32);
        Tensor c1 = fa.matmul(fb), c2 = fa.matmul(fb);
        assertArrayEquals(c1.toArray(), c2.toArray());
        assertClose("300x517x301", c1, a.matmul(b), 1e-3, 1e-5);
    }
}
