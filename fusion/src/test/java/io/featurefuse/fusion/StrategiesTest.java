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

    static java.util.List<String> many() {
        return Strategies.manyMapNames();
    }

    /** Three maps for a strategy that takes many: one shape, or (concat) other channel counts. */
    static Tensor[] threeMaps(String name, DType dtype, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        boolean sameShape = Strategies.needs(name) == Fusion.Needs.SAME_SHAPE;
        return new Tensor[] {Tensor.randn(r, 2, 4, 3, 3).to(dtype), Tensor.randn(r, 2, sameShape ? 4 : 3, 3, 3).to(dtype),
                Tensor.randn(r, 2, sameShape ? 4 : 5, 3, 3).to(dtype)};
    }

    static int[] channels(Tensor[] x) {
        return Arrays.stream(x).mapToInt(t -> t.size(1)).toArray();
    }

    @org.junit.jupiter.api.Test
    void theStrategiesThatGeneraliseAreTheExpectedOnes() {
        assertEquals(java.util.List.of("add", "mul", "max", "concat", "softmax", "bifpn", "attention"), Strategies.manyMapNames());
    }

    @ParameterizedTest
    @MethodSource("many")
    void threeMapGradientsMatchFiniteDifferences(String name) {
        try (var p = Precision.float64()) {
            Tensor[] x = threeMaps(name, DType.F64, 11);
            Fusion f = Strategies.create(name, channels(x), 5, new SplittableRandom(12));
            assertTrue(f.takesManyMaps(), name);
            GradCheck.check(name + " x3", in -> f.fuseAll(in), 1e-5, 1e-4, x);
        }
    }

    @ParameterizedTest
    @MethodSource("many")
    void everyParameterLearnsFromThreeMaps(String name) {
        Tensor[] x = threeMaps(name, DType.F32, 13);
        for (Tensor t : x) t.requiresGrad(true);
        Fusion f = Strategies.create(name, channels(x), 5, new SplittableRandom(14));
        Tensor y = f.fuseAll(java.util.List.of(x));
        assertEquals(name.equals("concat") ? 5 : 4, y.size(1));
        y.mul(Tensor.randn(new SplittableRandom(15), y.shape().toArray())).sum().backward();
        for (Tensor t : x) assertTrue(Arrays.stream(t.grad().toArray()).anyMatch(v -> v != 0), name + ": a map got no gradient");
        for (var e : f.namedParameters().entrySet())
            assertTrue(Arrays.stream(e.getValue().grad().toArray()).anyMatch(v -> v != 0), name + ": " + e.getKey() + " got a zero gradient");
    }

    /**
     * In eval mode without recording a strategy may fold its BN into the conv before it (concat
     * does): the same numbers as the recorded forward, which never folds, with running statistics
     * and BN's affine parameters away from their defaults so the fold has something to get wrong.
     */
    @ParameterizedTest
    @MethodSource("all")
    void inferenceWithoutRecordingMatchesTheRecordedForward(String name) {
        Tensor[] x = inputs(name, DType.F32, 18);
        Fusion f = Strategies.create(name, x[0].size(1), x[1].size(1), 5, new SplittableRandom(19));
        SplittableRandom r = new SplittableRandom(20);
        try (var off = io.featurefuse.engine.GradMode.off()) {
            var state = f.stateDict();
            for (var e : state.entrySet()) {
                Tensor t = e.getValue();
                String k = e.getKey(), layer = k.substring(0, k.lastIndexOf('.') + 1);
                boolean bn = state.containsKey(layer + "running_mean");
                if (bn && (k.endsWith("running_mean") || k.endsWith("bias"))) t.assign(Tensor.uniform(r, -0.5, 0.5, t.shape().toArray()));
                else if (bn && (k.endsWith("running_var") || k.endsWith("weight"))) t.assign(Tensor.uniform(r, 0.5, 2, t.shape().toArray()));
            }
        }
        f.eval();
        double[] recorded = f.fuse(x[0], x[1]).toArray(), fast;
        try (var off = io.featurefuse.engine.GradMode.off()) {
            fast = f.fuse(x[0], x[1]).toArray();
        }
        assertEquals(recorded.length, fast.length, name);
        for (int i = 0; i < recorded.length; i++) assertEquals(recorded[i], fast[i], 1e-5 * (1 + Math.abs(recorded[i])), name + " at " + i);
    }

    /**
     * Concat's pooled features (the pool inside its BN's pass while recording) are the global average pool of its
     * map to the bit: training, with the gradients of both maps and of every parameter, and in inference.
     */
    @org.junit.jupiter.api.Test
    void concatsPooledFeaturesAreThePoolOfItsMap() {
        for (int sideA : new int[] {3, 5}) { // planes of 9 and 25 values: no whole vector, and one with a tail
            SplittableRandom r = new SplittableRandom(sideA);
            Tensor a = Tensor.randn(r, 3, 8, sideA, sideA).to(DType.F32), b = Tensor.randn(r, 3, 6, sideA, sideA).to(DType.F32);
            var pooledWay = new io.featurefuse.fusion.strategies.Concat(8, 6, 5, new SplittableRandom(21));
            var mapWay = new io.featurefuse.fusion.strategies.Concat(8, 6, 5, new SplittableRandom(21));
            Tensor[] pa = {a.copy().requiresGrad(true), b.copy().requiresGrad(true)}, ma = {a.copy().requiresGrad(true), b.copy().requiresGrad(true)};
            Tensor pooled = pooledWay.fuseAllPooled(java.util.List.of(pa)), viaMap = mapWay.fuseAll(java.util.List.of(ma)).adaptiveAvgPool2d(1, 1);
            org.junit.jupiter.api.Assertions.assertArrayEquals(viaMap.toArray(), pooled.toArray(), 0.0, "training " + sideA);
            Tensor up = Tensor.randn(r, 3, 5, 1, 1).to(DType.F32);
            pooled.backward(up);
            viaMap.backward(up);
            for (int i = 0; i < 2; i++) org.junit.jupiter.api.Assertions.assertArrayEquals(ma[i].grad().toArray(), pa[i].grad().toArray(), 0.0, "map " + i);
            var mp = mapWay.namedParameters();
            pooledWay.namedParameters().forEach((k, t) -> org.junit.jupiter.api.Assertions.assertArrayEquals(mp.get(k).grad().toArray(), t.grad().toArray(),
                    0.0, k));
            pooledWay.eval();
            mapWay.eval();
            try (var off = io.featurefuse.engine.GradMode.off()) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(mapWay.fuseAll(java.util.List.of(a, b)).adaptiveAvgPool2d(1, 1).toArray(),
                        pooledWay.fuseAllPooled(java.util.List.of(a, b)).toArray(), 0.0, "inference " + sideA);
            }
        }
    }

    /**
     * Concat's pooled features of a map and a smaller one, resized first (ResizeSpec), are those of fuseAll over the map and
     * the resized one: training (the smaller map through the 1x1 conv at its own size, so equal but for the last bits),
     * with every gradient and the running statistics; and in inference (BN folded into the conv).
     */
    @org.junit.jupiter.api.Test
    void concatOfAResizedMapIsConcatOfTheMapResized() {
        SplittableRandom r = new SplittableRandom(5);
        Tensor a = Tensor.randn(r, 3, 8, 6, 6).to(DType.F32), b = Tensor.randn(r, 3, 6, 3, 3).to(DType.F32);
        var to = new io.featurefuse.engine.ResizeSpec(6, 6, io.featurefuse.engine.InterpolationMode.BILINEAR, false);
        var foldedWay = new io.featurefuse.fusion.strategies.Concat(8, 6, 5, new SplittableRandom(21));
        var mapWay = new io.featurefuse.fusion.strategies.Concat(8, 6, 5, new SplittableRandom(21));
        Tensor[] fa = {a.copy().requiresGrad(true), b.copy().requiresGrad(true)}, ma = {a.copy().requiresGrad(true), b.copy().requiresGrad(true)};
        Tensor folded = foldedWay.fuseAllPooled(java.util.List.of(fa), to);
        Tensor viaMap = mapWay.fuseAll(java.util.List.of(ma[0], ma[1].interpolate(6, 6, to.mode(), false))).adaptiveAvgPool2d(1, 1);
        assertClose("training", viaMap.toArray(), folded.toArray());
        Tensor up = Tensor.randn(r, 3, 5, 1, 1).to(DType.F32);
        folded.backward(up);
        viaMap.backward(up);
        for (int i = 0; i < 2; i++) assertClose("map " + i, ma[i].grad().toArray(), fa[i].grad().toArray());
        var mp = mapWay.namedParameters();
        foldedWay.namedParameters().forEach((k, t) -> assertClose(k, mp.get(k).grad().toArray(), t.grad().toArray()));
        var ms = mapWay.stateDict();
        foldedWay.stateDict().forEach((k, t) -> assertClose(k, ms.get(k).toArray(), t.toArray()));
        foldedWay.eval();
        mapWay.eval();
        try (var off = io.featurefuse.engine.GradMode.off()) {
            assertClose("inference", foldedWay.fuseAll(java.util.List.of(a, b.interpolate(6, 6, to.mode(), false))).adaptiveAvgPool2d(1, 1).toArray(),
                    foldedWay.fuseAllPooled(java.util.List.of(a, b), to).toArray());
        }
    }

    private static void assertClose(String what, double[] expected, double[] actual) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], 1e-5 * (1 + Math.abs(expected[i])), what + " at " + i);
    }

    /** With two maps, fuseAll is fuse to the bit (the N-way code is the two-map code). */
    @ParameterizedTest
    @MethodSource("many")
    void twoMapsThroughFuseAllAreFuse(String name) {
        Tensor[] x = inputs(name, DType.F32, 16);
        Fusion f = Strategies.create(name, x[0].size(1), x[1].size(1), 5, new SplittableRandom(17));
        Fusion g = Strategies.create(name, new int[] {x[0].size(1), x[1].size(1)}, 5, new SplittableRandom(17));
        org.junit.jupiter.api.Assertions.assertArrayEquals(f.fuse(x[0], x[1]).toArray(), g.fuseAll(java.util.List.of(x)).toArray(), 0.0, name);
    }

    @org.junit.jupiter.api.Test
    void twoMapStrategiesRefuseThreeMapsWithASentence() {
        var e = assertThrows(IllegalArgumentException.class, () -> Strategies.create("gated", new int[] {4, 4, 4}, 5, new SplittableRandom(1)));
        assertEquals("gated fuses two maps, not 3; the strategies that take any number are add, mul, max, concat, softmax, bifpn, attention", e.getMessage());
        Fusion sub = Strategies.create("sub", 4, 4, 5, new SplittableRandom(1));
        Tensor m = Tensor.zeros(1, 4, 2, 2);
        e = assertThrows(IllegalArgumentException.class, () -> sub.fuseAll(java.util.List.of(m, m, m)));
        assertTrue(e.getMessage().startsWith("sub fuses two maps, not 3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Strategies.create("add", new int[] {4, 6, 4}, 5, new SplittableRandom(1)));
        assertTrue(e.getMessage().startsWith("add needs maps of one shape, not channels [4, 6, 4]"), e.getMessage());
        Fusion att = Strategies.create("attention", new int[] {4, 4, 4}, 5, new SplittableRandom(1));
        e = assertThrows(IllegalArgumentException.class, () -> att.fuseAll(java.util.List.of(m, m)));
        assertEquals("attention was built for 3 maps, not 2", e.getMessage());
    }

    @org.junit.jupiter.api.Test
    void unknownStrategyNamesTheKnownOnes() {
        var e = assertThrows(IllegalArgumentException.class, () -> Strategies.needs("sum"));
        assertTrue(e.getMessage().startsWith("unknown fusion strategy 'sum'; the strategies are add, sub, absdiff, mul, div, max, concat"), e.getMessage());
    }
}
