package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Factories, seeded initialisers, data access and printing. */
class TensorTest {

    @Test
    void factoriesFillShapesAndDtypes() {
        assertArrayEquals(new double[] {0, 0, 0, 0}, Tensor.zeros(2, 2).toArray());
        assertArrayEquals(new double[] {1, 1, 1}, Tensor.ones(3).toArray());
        assertEquals(DType.F64, Tensor.full(Shape.of(2), DType.F64, 7).dtype());
        assertEquals(4.0, Tensor.arange(5).get(4));
        assertEquals(2.5, Tensor.scalar(2.5).item());
        assertEquals(0, Tensor.scalar(1).rank());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).toFloatArray());
    }

    @Test
    void randomFactoriesAreSeededAndHaveTheRightMoments() {
        Tensor a = Tensor.randn(new SplittableRandom(7), 100_000), b = Tensor.randn(new SplittableRandom(7), 100_000);
        assertArrayEquals(a.toArray(), b.toArray());
        assertNotEquals(a.get(0), Tensor.randn(new SplittableRandom(8), 1).get(0));
        assertEquals(0, a.mean().item(), 0.02);
        assertEquals(1, a.var(1, false).item(), 0.02);
        Tensor u = Tensor.uniform(new SplittableRandom(1), -2, 3, 50_000);
        assertTrue(u.min(false).item() >= -2 && u.max(false).item() < 3);
        assertEquals(0.5, u.mean().item(), 0.05);
    }

    @Test
    void kaimingUsesFanInLikePyTorch() {
        // conv weight [out=16, in=8, 3, 3]: fan_in = 72; a = sqrt(5) gives bound 1 / sqrt(fan_in)
        Tensor w = Tensor.kaimingUniform(new SplittableRandom(3), Math.sqrt(5), 16, 8, 3, 3);
        double bound = 1 / Math.sqrt(72);
        assertTrue(w.abs().max(false).item() <= bound);
        assertTrue(w.abs().max(false).item() > 0.9 * bound);
        Tensor n = Tensor.kaimingNormal(new SplittableRandom(3), 256, 128);
        assertEquals(Math.sqrt(2.0 / 128), Math.sqrt(n.var(1, false).item()), 0.01);
    }

    @Test
    void toStringPrintsSmallTensorsLikePyTorch() {
        assertEquals("tensor([[1., 2., 3.],\n        [4., 5., 6.]], dtype=float32)",
                Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).toString());
        assertEquals("tensor(0.5000, dtype=float64)", Tensor.full(Shape.of(), DType.F64, 0.5).toString());
        assertEquals("tensor(shape=[100, 100], dtype=float32)", Tensor.zeros(100, 100).toString());
        Tensor w = Tensor.ones(2).requiresGrad(true);
        assertEquals("tensor([1., 1.], dtype=float32, requires_grad=true)", w.toString());
        assertEquals("tensor([2., 2.], dtype=float32, grad_fn=mul)", w.mul(2).toString());
    }

    @Test
    void dropoutIsSeededInvertedAndPassesGradientsThroughTheMask() {
        Tensor x = Tensor.ones(100_000).requiresGrad(true);
        Tensor y = x.dropout(0.3, new SplittableRandom(5));
        assertArrayEquals(y.toArray(), Tensor.ones(100_000).dropout(0.3, new SplittableRandom(5)).toArray());
        double zeros = java.util.Arrays.stream(y.toArray()).filter(v -> v == 0).count();
        assertEquals(0.3, zeros / 100_000, 0.01);
        assertEquals(1.0, y.mean().item(), 0.02);
        for (double v : y.toArray()) assertTrue(v == 0 || Math.abs(v - 1 / 0.7) < 1e-6);
        y.sum().backward();
        assertArrayEquals(y.toArray(), x.grad().toArray());
        assertArrayEquals(new double[] {0, 0}, Tensor.ones(2).dropout(1, new SplittableRandom(1)).toArray());
        assertThrows(IllegalArgumentException.class, () -> x.dropout(1.5, new SplittableRandom(1)));
    }

    @Test
    void getChecksIndices() {
        Tensor x = Tensor.arange(6).reshape(2, 3);
        assertEquals(5.0, x.get(1, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> x.get(2, 0));
        assertThrows(IllegalArgumentException.class, () -> x.get(1));
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(-1));
    }
}
