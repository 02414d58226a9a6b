package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.Function;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** The tape: linearity, accumulation, detach, no-grad scopes, graph release, and error messages. */
class AutogradTest {

    static double[] gradOf(Function<Tensor, Tensor> f, Tensor x) {
        Tensor leaf = x.copy().requiresGrad(true);
        f.apply(leaf).backward();
        return leaf.grad().toArray();
    }

    @Property(tries = 30)
    void gradientsAreLinear(@ForAll @IntRange(min = 1, max = 20) int n, @ForAll long seed,
                            @ForAll @DoubleRange(min = -3, max = 3) double alpha, @ForAll @DoubleRange(min = -3, max = 3) double beta) {
        Tensor x = Fixtures.values(seed, -1, 1, n);
        Function<Tensor, Tensor> f = t -> t.tanh().mul(t).sum(), g = t -> t.exp().sum().log();
        double[] gf = gradOf(f, x), gg = gradOf(g, x);
        double[] combined = gradOf(t -> f.apply(t).mul(alpha).add(g.apply(t).mul(beta)), x);
        for (int i = 0; i < n; i++) assertEquals(alpha * gf[i] + beta * gg[i], combined[i], 1e-12);
    }

    @Property(tries = 30)
    void twoUsesOfOneTensorAddTheirGradients(@ForAll @IntRange(min = 1, max = 20) int n, @ForAll long seed) {
        Tensor x = Fixtures.values(seed, -1, 1, n);
        double[] g = gradOf(t -> t.mul(t).add(t.pow(3)).sum(), x);
        double[] xv = x.toArray();
        for (int i = 0; i < n; i++) assertEquals(2 * xv[i] + 3 * xv[i] * xv[i], g[i], 1e-12);
    }

    @Test
    void gradientsAccumulateAcrossBackwardCallsUntilZeroed() {
        Tensor w = Tensor.of(new double[] {1, 2}, 2).requiresGrad(true);
        w.mul(3).sum().backward();
        w.mul(w).sum().backward();
        assertArrayEquals(new double[] {3 + 2, 3 + 4}, w.grad().toArray());
        w.zeroGrad();
        assertNull(w.grad());
    }

    @Test
    void eachLeafGradientHasABufferOfItsOwn() {
        // A leaf takes a rule's fresh gradient without a copy; these are the cases where it must copy.
        Tensor a = Tensor.of(new double[] {1, 2}, 2).requiresGrad(true), b = Tensor.of(new double[] {3, 4}, 2).requiresGrad(true);
        Tensor callers = Tensor.of(new double[] {5, 6}, 2);
        a.add(b).backward(callers); // add passes the caller's gradient on to both inputs
        assertFalse(a.grad().sharesStorage(callers) || b.grad().sharesStorage(callers) || a.grad().sharesStorage(b.grad()));
        a.zeroGrad();
        b.zeroGrad();
        a.add(b).mul(2).sum().backward(); // add passes mul's gradient, made and used up inside backward, to both
        assertFalse(a.grad().sharesStorage(b.grad()));
        assertArrayEquals(new double[] {2, 2}, a.grad().toArray());
        assertArrayEquals(new double[] {2, 2}, b.grad().toArray());
        a.zeroGrad();
        Tensor one = Tensor.of(new double[] {1}, 1);
        a.add(one).backward(callers); // the caller's gradient passed on to one input
        assertFalse(a.grad().sharesStorage(callers));
        a.zeroGrad();
        a.add(one).mul(3).sum().backward(); // mul's gradient passed on to one input, then used up
        assertArrayEquals(new double[] {3, 3}, a.grad().toArray());
        Tensor c = Tensor.of(new double[] {1, 2, 3, 4}, 2, 2).requiresGrad(true);
        c.reshape(4).mul(3).sum().backward(); // a view of a gradient made inside backward
        assertArrayEquals(new double[] {3, 3, 3, 3}, c.grad().toArray());
    }

    @Test
    void aSecondBackwardThroughAFreedGraphIsAClearError() {
        Tensor w = Tensor.of(new double[] {1, 2}, 2).requiresGrad(true);
        Tensor loss = w.exp().sum();
        loss.backward();
        var e = assertThrows(IllegalStateException.class, loss::backward);
        assertTrue(e.getMessage().contains("already freed"), e.getMessage());
        Tensor kept = w.exp().sum();
        kept.backward(Tensor.full(Shape.of(), DType.F64, 1), true);
        kept.backward(Tensor.full(Shape.of(), DType.F64, 1), true);
        assertEquals(3 * Math.exp(1), w.grad().get(0), 1e-12);
    }

    @Test
    void detachAndNoGradCutTheGraph() {
        Tensor w = Tensor.ones(3).requiresGrad(true);
        assertFalse(w.mul(2).detach().requiresGrad());
        try (var off = GradMode.off()) {
            Tensor y = w.mul(2);
            assertFalse(y.requiresGrad());
            assertTrue(y.isLeaf());
            try (var on = GradMode.on()) {
                assertTrue(w.mul(2).requiresGrad());
            }
            assertFalse(GradMode.isEnabled());
        }
        assertTrue(GradMode.isEnabled());
        Tensor y = w.mul(w.detach()).sum();
        y.backward();
        assertArrayEquals(new double[] {1, 1, 1}, w.grad().toArray());
    }

    @Test
    void backwardNeedsAScalarOrAGradient() {
        Tensor w = Tensor.ones(3).requiresGrad(true);
        var e = assertThrows(IllegalArgumentException.class, () -> w.mul(2).backward());
        assertEquals("backward: an output of shape [3] needs a gradient argument; backward() without one is for scalars", e.getMessage());
        Tensor y = w.mul(2);
        y.backward(Tensor.of(new float[] {1, 2, 3}, 3));
        assertArrayEquals(new double[] {2, 4, 6}, w.grad().toArray());
        assertThrows(IllegalStateException.class, () -> Tensor.ones(2).sum().backward());
        assertThrows(IllegalStateException.class, () -> w.mul(2).requiresGrad(false));
    }

    @Test
    void deepGraphsDoNotOverflowTheStack() {
        Tensor w = Tensor.of(new double[] {0.5}, 1).requiresGrad(true);
        Tensor y = w;
        for (int i = 0; i < 20_000; i++) y = y.mul(1.0);
        y.sum().backward();
        assertEquals(1.0, w.grad().item());
    }

    @Test
    void errorsNameTheOpAndTheShapes() {
        Tensor a = Tensor.zeros(2, 3), b = Tensor.zeros(4);
        assertEquals("add: shapes [2, 3] and [4] do not broadcast",
                assertThrows(IllegalArgumentException.class, () -> a.add(b)).getMessage());
        assertEquals("mul: dtypes float32 and float64 differ; convert one with to(DType.F32)",
                assertThrows(IllegalArgumentException.class, () -> a.mul(Tensor.zeros(2, 3).to(DType.F64))).getMessage());
        assertEquals("sum: dim 2 is out of range for a tensor of rank 2 (valid: -2..1)",
                assertThrows(IllegalArgumentException.class, () -> a.sum(false, 2)).getMessage());
        assertEquals("softmax: dim -3 is out of range for a tensor of rank 2 (valid: -2..1)",
                assertThrows(IllegalArgumentException.class, () -> a.softmax(-3)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[] {1, 2, 3}, 2, 2));
        assertThrows(IllegalStateException.class, a::item);
    }
}
