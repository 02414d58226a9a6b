package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/** Reductions over random dim sets, softmax family: fast vs reference, and gradient checks. */
class ReductionTest {

    record Op(String name, Function<Tensor, Tensor> f) {}

    /** The ops under test for one random choice of dims and keepdim. */
    static List<Op> ops(int[] dims, boolean keepdim, int anyDim) {
        List<Op> ops = new ArrayList<>(List.of(
                new Op("sum", x -> x.sum(keepdim, dims)),
                new Op("mean", x -> x.mean(keepdim, dims)),
                new Op("var(1)", x -> x.var(1, keepdim, dims)),
                new Op("var(0)", x -> x.var(0, keepdim, dims)),
                new Op("max", x -> x.max(keepdim, dims)),
                new Op("min", x -> x.min(keepdim, dims))));
        if (anyDim >= 0) {
            ops.add(new Op("softmax", x -> x.softmax(anyDim)));
            ops.add(new Op("logSoftmax", x -> x.logSoftmax(anyDim)));
        }
        return ops;
    }

    /** A random subset of the dims of a shape, in random order, sometimes negative, sometimes empty (= all). */
    static int[] randomDims(int rank, SplittableRandom r) {
        List<Integer> dims = new ArrayList<>();
        for (int d = 0; d < rank; d++) if (r.nextBoolean()) dims.add(r.nextBoolean() ? d : d - rank);
        java.util.Collections.shuffle(dims, new java.util.Random(r.nextLong()));
        return dims.stream().mapToInt(Integer::intValue).toArray();
    }

    @Provide
    Arbitrary<int[]> shapes() {
        return Fixtures.shapes(4, 19);
    }

    @Provide
    Arbitrary<int[]> smallShapes() {
        return Fixtures.shapes(3, 5);
    }

    @Property(tries = 80)
    void fastMatchesReference(@ForAll("shapes") int[] shape, @ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] dims = randomDims(shape.length, r);
        boolean keepdim = r.nextBoolean();
        int anyDim = shape.length == 0 ? -1 : r.nextInt(shape.length);
        Tensor x = Fixtures.values(seed, -2, 2, shape);
        for (Op op : ops(dims, keepdim, anyDim)) {
            String what = op.name + " of " + x.shape() + " over " + java.util.Arrays.toString(dims) + " keepdim " + keepdim;
            Tensor ref = op.f.apply(x);
            double n = Math.max(1, x.numel());
            assertClose(what, op.f.apply(x.to(DType.F32)), ref, 1e-6 * Math.sqrt(n) * 4, 1e-5);
        }
    }

    @Property(tries = 25)
    void gradients(@ForAll("smallShapes") int[] shape, @ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] dims = randomDims(shape.length, r);
        boolean keepdim = r.nextBoolean();
        int anyDim = shape.length == 0 ? -1 : r.nextInt(shape.length);
        Tensor x = Fixtures.values(seed, -2, 2, shape);
        for (Op op : ops(dims, keepdim, anyDim)) {
            if (op.name.startsWith("var") && x.numel() < 2) continue; // division by zero count
            GradCheck.check(op.name + " of " + x.shape() + " over " + java.util.Arrays.toString(dims),
                    in -> op.f.apply(in.get(0)), x);
        }
    }

    @Test
    void shapesFollowKeepdim() {
        Tensor x = Tensor.zeros(2, 3, 4, 5);
        assertEquals(Shape.of(3, 5), x.sum(false, 0, 2).shape());
        assertEquals(Shape.of(1, 3, 1, 5), x.sum(true, 0, -2).shape());
        assertEquals(Shape.of(), x.sum().shape());
        assertEquals(Shape.of(2, 3, 4), x.max(false, -1).shape());
        assertThrows(IllegalArgumentException.class, () -> x.sum(false, 4));
        assertThrows(IllegalArgumentException.class, () -> x.sum(false, 1, -3));
    }

    @Test
    void knownValues() {
        Tensor x = Tensor.of(new float[] {1, 5, 3, 2, 2, 8}, 2, 3);
        assertArrayEquals(new double[] {9, 12}, x.sum(false, 1).toArray());
        assertArrayEquals(new double[] {1.5, 3.5, 5.5}, x.mean(false, 0).toArray());
        assertArrayEquals(new double[] {5, 8}, x.max(false, 1).toArray());
        assertArrayEquals(new double[] {1, 2, 3}, x.min(false, 0).toArray());
        assertArrayEquals(new double[] {4, 12}, x.var(1, false, 1).toArray(), 1e-6);
        assertArrayEquals(new int[] {1, 2}, x.argmax(1, false).values());
        assertArrayEquals(new int[] {1, 0, 1}, x.argmax(0, false).values());
        assertEquals(Shape.of(2, 1), x.argmax(1, true).shape());
        Tensor p = x.softmax(1);
        assertArrayEquals(new double[] {1, 1}, p.sum(false, 1).toArray(), 1e-6);
    }

    @Test
    void argmaxTakesTheFirstMaximumAndNaNWins() {
        Tensor x = Tensor.of(new float[] {3, 7, 7, 1, Float.NaN, 9}, 2, 3);
        assertArrayEquals(new int[] {1, 1}, x.argmax(1, false).values());
    }

    @Test
    void maxGradientIsSharedAmongTies() {
        Tensor x = Tensor.of(new double[] {1, 4, 4, 2}, 4).requiresGrad(true);
        x.max(false).backward();
        assertArrayEquals(new double[] {0, 0.5, 0.5, 0}, x.grad().toArray());
    }

    @Test
    void softmaxIsStableForLargeLogits() {
        Tensor x = Tensor.of(new float[] {1000, 1000, -1000}, 1, 3);
        double[] p = x.softmax(1).toArray();
        assertEquals(0.5, p[0], 1e-6);
        assertEquals(0.0, p[2], 1e-6);
        double[] lp = x.logSoftmax(1).toArray();
        assertTrue(Double.isFinite(lp[2]));
        assertEquals(Math.log(0.5), lp[0], 1e-5);
    }

    @Test
    void largeSumsMatchAcrossThreadsAndRuns() {
        Tensor x = Fixtures.values(42, -1, 1, 1 << 20).to(DType.F32);
        double a = x.sum().item(), b = x.sum().item();
        assertEquals(a, b, 0.0); // deterministic
        assertEquals(Fixtures.values(42, -1, 1, 1 << 20).sum().item(), a, 1e-2);
    }
}
