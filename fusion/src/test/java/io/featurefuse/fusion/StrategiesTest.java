package io.featurefuse.fusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.DType;
import io.featurefuse.engine.GradCheck;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Precision;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every strategy: gradients by finite differences in float64, a gradient for every parameter, shapes, finiteness. */
class StrategiesTest {
    static java.util.List<String> all() {
        return Strategies.names();
    }

    /** Inputs each strategy takes: same shape, or (for those that need nothing) other channels and size. */
    static Tensor[] inputs(String name, DType dtype, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Tensor a = Tensor.randn(r, 2, 8, 3, 3).to(dtype);
        Tensor b = switch (Strategies.needs(name)) {
            case SAME_SHAPE -> Tensor.randn(r, 2, 8, 3, 3);
            case SAME_SIZE -> Tensor.randn(r, 2, 6, 3, 3);
            case NOTHING -> Tensor.randn(r, 2, 6, 2, 2);
        };
        return new Tensor[] {a, b.to(dtype)};
    }

    @ParameterizedTest
    @MethodSource("all")
    void gradientsMatchFiniteDifferences(String name) {
        try (var p = Precision.float64()) {
            Tensor[] x = inputs(name, DType.F64, 1);
            Fusion f = Strategies.create(name, x[0].size(1), x[1].size(1), 5, new SplittableRandom(2));
            // kinks (abs, max, relu) are avoided by the random inputs with probability ~1
            GradCheck.check(name, in -> f.fuse(in.get(0), in.get(1)), 1e-5, 1e-4, x);
        }
    }

    @ParameterizedTest
    @MethodSource("all")
    void everyParameterReceivesAGradientAndTheOutputIsFinite(String name) {
        Tensor[] x = inputs(name, DType.F32, 3);
        x[0].requiresGrad(true);
        x[1].requiresGrad(true);
        Fusion f = Strategies.create(name, x[0].size(1), x[1].size(1), 5, new SplittableRandom(4));
        assertEquals(Strategies.needs(name), f.needs(), "the registry and the strategy agree on what it needs");
        Tensor y = f.fuse(x[0], x[1]);
        assertEquals(f.outChannels(x[0].size(1), x[1].size(1)), y.size(1));
        assertEquals(x[0].size(2), y.size(2));
        for (double v : y.toArray()) assertTrue(Double.isFinite(v), name + " gave " + v);
        y.mul(Tensor.randn(new SplittableRandom(5), y.shape().toArray())).sum().backward();
        for (var e : f.namedParameters().entrySet()) {
            assertNotNull(e.getValue().grad(), name + ": " + e.getKey() + " got no gradient");
            assertTrue(Arrays.stream(e.getValue().grad().toArray()).anyMatch(v -> v != 0), name + ": " + e.getKey() + " got a zero gradient");
        }
    }

    @ParameterizedTest
    @MethodSource("all")
    void divideAndFriendsStayFiniteOnZeros(String name) {
        Tensor[] x = inputs(name, DType.F32, 6);
        Fusion f = Strategies.create(name, x[0].size(1), x[1].size(1), 5, new SplittableRandom(7));
        Tensor zeros = Tensor.zeros(x[1].shape().toArray());
        for (double v : f.fuse(x[0], zeros).toArray()) assertTrue(Double.isFinite(v), name + " on a zero map gave " + v);
    }

    @org.junit.jupiter.api.Test
    void unknownStrategyNamesTheKnownOnes() {
        var e = assertThrows(IllegalArgumentException.class, () -> Strategies.needs("sum"));
        assertTrue(e.getMessage().startsWith("unknown fusion strategy 'sum'; the strategies are add, sub, absdiff, mul, div, max, concat"), e.getMessage());
    }
}
