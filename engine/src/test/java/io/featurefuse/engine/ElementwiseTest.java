package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.function.BiFunction;
import java.util.function.Function;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** Every element-wise op: float32 SIMD kernel vs float64 reference, and gradient checks. */
class ElementwiseTest {

    record Binary(String name, BiFunction<Tensor, Tensor, Tensor> f, double lo, double hi, double rtol) {}

    record Unary(String name, Function<Tensor, Tensor> f, double lo, double hi, boolean awayFromZero, double rtol) {}

    static final List<Binary> BINARY = List.of(
            new Binary("add", Tensor::add, -3, 3, 1e-6),
            new Binary("sub", Tensor::sub, -3, 3, 1e-6),
            new Binary("mul", Tensor::mul, -3, 3, 1e-6),
            new Binary("div", (a, b) -> a.div(b.abs().add(0.5)), -3, 3, 1e-6),
            new Binary("pow", (a, b) -> a.abs().add(0.1).pow(b), -2, 2, 1e-5),
            new Binary("maximum", Tensor::maximum, -3, 3, 0),
            new Binary("minimum", Tensor::minimum, -3, 3, 0),
            new Binary("addRelu", Tensor::addRelu, -3, 3, 1e-6));

    static final List<Unary> UNARY = List.of(
            new Unary("neg", Tensor::neg, -3, 3, false, 0),
            new Unary("abs", Tensor::abs, -3, 3, true, 0),
            new Unary("exp", Tensor::exp, -5, 5, false, 1e-6),
            new Unary("log", Tensor::log, 0.05, 5, false, 1e-6),
            new Unary("sqrt", Tensor::sqrt, 0.05, 5, false, 1e-6),
            new Unary("relu", Tensor::relu, -3, 3, true, 0),
            new Unary("leakyRelu", x -> x.leakyRelu(0.1), -3, 3, true, 1e-6),
            new Unary("sigmoid", Tensor::sigmoid, -6, 6, false, 1e-6),
            new Unary("tanh", Tensor::tanh, -4, 4, false, 1e-6),
            new Unary("gelu", Tensor::gelu, -5, 5, false, 1e-6),
            new Unary("silu", Tensor::silu, -6, 6, false, 1e-6),
            new Unary("clamp", x -> x.clamp(-0.7, 1.3), -3, 3, false, 0),
            new Unary("pow(2)", x -> x.pow(2), -3, 3, false, 1e-6),
            new Unary("pow(3)", x -> x.pow(3), -3, 3, false, 1e-5),
            new Unary("pow(-1.5)", x -> x.pow(-1.5), 0.2, 3, false, 1e-5),
            new Unary("add(2.5)", x -> x.add(2.5), -3, 3, false, 1e-6),
            new Unary("sub(0.5)", x -> x.sub(0.5), -3, 3, false, 1e-6),
            new Unary("mul(-1.5)", x -> x.mul(-1.5), -3, 3, false, 1e-6),
            new Unary("div(3)", x -> x.div(3), -3, 3, false, 1e-6),
            new Unary("rsub(1)", x -> x.rsub(1), -3, 3, false, 1e-6),
            new Unary("maximum(0.25)", x -> x.maximum(0.25), -3, 3, false, 0),
            new Unary("minimum(0.25)", x -> x.minimum(0.25), -3, 3, false, 0));

    @Provide
    Arbitrary<int[][]> pairs() {
        return Fixtures.broadcastPairs();
    }

    /** Small shapes for gradient checks, which evaluate the op twice per input element. */
    @Provide
    Arbitrary<int[][]> smallPairs() {
        return Fixtures.broadcastPairs(3, 5);
    }

    @Provide
    Arbitrary<int[]> smallShapes() {
        return Fixtures.shapes(3, 5);
    }

    @Provide
    Arbitrary<int[]> shapes() {
        return Fixtures.shapes(4, 13);
    }

    @Property(tries = 60)
    void binaryFastMatchesReference(@ForAll("pairs") int[][] shapes, @ForAll long seed) {
        Tensor a = Fixtures.values(seed, -3, 3, shapes[0]), b = Fixtures.values(seed + 1, -3, 3, shapes[1]);
        for (Binary op : BINARY) {
            Tensor ref = op.f.apply(a, b);
            Tensor fast = op.f.apply(a.to(DType.F32), b.to(DType.F32));
            assertEquals(DType.F32, fast.dtype());
            assertClose(op.name + " " + a.shape() + " " + b.shape(), fast, ref, 1e-6, Math.max(op.rtol, 1e-6));
        }
    }

    @Property(tries = 60)
    void unaryFastMatchesReference(@ForAll("shapes") int[] shape, @ForAll long seed) {
        for (Unary op : UNARY) {
            Tensor x = Fixtures.values(seed, op.lo, op.hi, shape);
            assertClose(op.name + " " + x.shape(), op.f.apply(x.to(DType.F32)), op.f.apply(x), 2e-6, Math.max(op.rtol, 2e-6));
        }
    }

    /** Long runs exercise the vector body and the tail, on contiguous, broadcast and strided inputs. */
    @Property(tries = 20)
    void longAndStridedRunsMatchReference(@ForAll @IntRange(min = 1, max = 300) int n, @ForAll long seed) {
        Tensor a = Fixtures.values(seed, -2, 2, 3, n), b = Fixtures.values(seed + 1, 0.5, 2, n);
        Tensor at = Fixtures.values(seed + 2, -2, 2, n, 3).transpose(0, 1); // strided view [3, n]
        for (Binary op : BINARY) {
            assertClose(op.name + " long", op.f.apply(a.to(DType.F32), b.to(DType.F32)), op.f.apply(a, b), 1e-6, 1e-5);
            assertClose(op.name + " strided", op.f.apply(at.to(DType.F32), b.to(DType.F32)), op.f.apply(at, b), 1e-6, 1e-5);
        }
        for (Unary op : UNARY) {
            Tensor x = Fixtures.values(seed + 3, op.lo, op.hi, 2, n);
            assertClose(op.name + " long", op.f.apply(x.to(DType.F32)), op.f.apply(x), 2e-6, Math.max(op.rtol, 2e-6));
        }
    }

    /**
     * In-place this = a this + b src against the out-of-place ops in float64 (exactly) and the
     * float32 kernel against float64: broadcast sources, a transposed (strided) destination, runs
     * across the vector width.
     */
    @Property(tries = 40)
    void scaleAndAddMatchesReference(@ForAll("pairs") int[][] shapes, @ForAll @IntRange(min = 1, max = 70) int n, @ForAll long seed) {
        int[] full = Shape.broadcast(Shape.of(shapes[0]), Shape.of(shapes[1]), "test").toArray();
        Tensor x = Fixtures.values(seed + 1, -3, 3, shapes[1]);
        Tensor[] destinations = {Fixtures.values(seed, -3, 3, full), Fixtures.values(seed + 2, -3, 3, n, 3).transpose(0, 1)};
        Tensor[] sources = {x, Fixtures.values(seed + 3, -3, 3, n)};
        for (int k = 0; k < 2; k++) {
            Tensor y = destinations[k], src = sources[k];
            double a = 0.9 - k, b = -0.35;
            Tensor expected = y.mul(a).add(src.mul(b));
            // fresh destinations laid out as y: contiguous, or the transpose of a contiguous [n, 3]
            Tensor y64 = k == 0 ? y.copy() : y.transpose(0, 1).copy().transpose(0, 1);
            Tensor y32 = k == 0 ? y.to(DType.F32) : y.transpose(0, 1).to(DType.F32).transpose(0, 1);
            y64.scaleAndAdd(a, src, b);
            y32.scaleAndAdd(a, src.to(DType.F32), b);
            assertClose("float64 " + y.shape() + " += " + src.shape(), y64, expected, 0, 1e-15);
            assertClose("float32 " + y.shape() + " += " + src.shape(), y32, expected, 1e-6, 1e-6);
        }
    }

    @Test
    void scaleAndAddReadsAnotherViewOfItselfBeforeWriting() {
        Tensor m = Fixtures.values(5, -1, 1, 9, 9).to(DType.F32), t = m.transpose(0, 1).copy(), before = m.copy();
        m.scaleAndAdd(2, m.transpose(0, 1), 1);
        assertClose("m = 2 m + m^T", m, before.mul(2).add(t), 1e-6, 1e-6);
        m.scaleAndAdd(0.5, m, 0.25);
        assertClose("the same view", m, before.mul(2).add(t).mul(0.75), 1e-6, 1e-6);
    }

    @Test
    void scaleAndAddRefusesWhatItCannotUpdate() {
        Tensor w = Tensor.zeros(3).requiresGrad(true);
        var e = assertThrows(IllegalStateException.class, () -> w.scaleAndAdd(1, Tensor.ones(3), 1));
        assertTrue(e.getMessage().contains("GradMode.off"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> w.mul(2).scaleAndAdd(1, Tensor.ones(3), 1));
        var s = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(3).scaleAndAdd(1, Tensor.ones(4), 1));
        assertTrue(s.getMessage().contains("scaleAndAdd") && s.getMessage().contains("[4]"), s.getMessage());
        var b = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(1, 3).expand(4, 3).scaleAndAdd(1, Tensor.ones(4, 3), 1));
        assertTrue(b.getMessage().contains("broadcast view"), b.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(3).to(DType.F32).scaleAndAdd(1, Tensor.ones(3).to(DType.F64), 1));
    }

    @Property(tries = 15)
    void binaryGradients(@ForAll("smallPairs") int[][] shapes, @ForAll long seed) {
        for (Binary op : BINARY) {
            Tensor a = Fixtures.awayFromZero(seed, 0.2, 2, shapes[0]);
            Tensor b = Fixtures.awayFromZero(seed + 7, 0.2, 2, shapes[1]);
            GradCheck.check(op.name + " " + a.shape() + " " + b.shape(), in -> op.f.apply(in.get(0), in.get(1)), a, b);
        }
    }

    @Property(tries = 15)
    void unaryGradients(@ForAll("smallShapes") int[] shape, @ForAll long seed) {
        for (Unary op : UNARY) {
            Tensor x = op.awayFromZero ? Fixtures.awayFromZero(seed, 0.1, op.hi, shape) : Fixtures.values(seed, op.lo, op.hi, shape);
            GradCheck.check(op.name + " " + x.shape(), in -> op.f.apply(in.get(0)), x);
        }
    }

    @Property(tries = 10)
    void tiesSplitTheGradientOfMaximum(@ForAll("shapes") int[] shape, @ForAll long seed) {
        Tensor a = Fixtures.values(seed, -1, 1, shape).requiresGrad(true);
        Tensor b = a.detach().requiresGrad(true);
        a.maximum(b).sum().backward();
        for (double g : a.grad().toArray()) assertEquals(0.5, g);
        for (double g : b.grad().toArray()) assertEquals(0.5, g);
    }

    @org.junit.jupiter.api.Test
    void logOfNegativeIsNaNAndPowOfZeroHasFiniteGradient() {
        Tensor x = Tensor.of(new float[] {-1, 0, 1}, 3);
        double[] y = x.log().toArray();
        assertTrue(Double.isNaN(y[0]));
        assertEquals(Double.NEGATIVE_INFINITY, y[1]);
        assertEquals(0.0, y[2]);
        Tensor base = Tensor.of(new double[] {0, 2}, 2);
        Tensor e = Tensor.of(new double[] {2, 3}, 2).requiresGrad(true);
        base.pow(e).sum().backward();
        assertEquals(0.0, e.grad().get(0));
        assertEquals(8 * Math.log(2), e.grad().get(1), 1e-12);
    }

    /** ReLU's backward is one fused pass (gradient where the input is positive): the float32 kernel against the float64 one. */
    @Property(tries = 30)
    void reluBackwardFastMatchesReference(@ForAll("shapes") int[] shape, @ForAll long seed) {
        Tensor x = Fixtures.values(seed, -3, 3, shape), g = Fixtures.values(seed + 1, -3, 3, shape);
        Tensor[] grads = new Tensor[2];
        int i = 0;
        for (DType d : DType.values()) {
            Tensor leaf = x.to(d).requiresGrad(true);
            leaf.relu().backward(g.to(d));
            grads[i++] = leaf.grad();
        }
        assertClose("relu backward " + x.shape(), grads[0], grads[1], 0, 0);
    }

    @org.junit.jupiter.api.Test
    void reluPassesNoNonFiniteGradientWhereItIsFlat() {
        Tensor x = Tensor.of(new float[] {-1, 0, 2, -3, 1, 1, 1, 1, 1, -1, 0, 5, 2, 2, 2, 2, 2}, 17).requiresGrad(true);
        float[] g = new float[17];
        java.util.Arrays.fill(g, Float.NaN);
        g[2] = 4;
        x.relu().backward(Tensor.of(g, 17));
        assertEquals(0.0, x.grad().get(0));
        assertEquals(0.0, x.grad().get(1));
        assertEquals(4.0, x.grad().get(2));
        assertEquals(0.0, x.grad().get(9));
    }

    @org.junit.jupiter.api.Test
    void relaxedReluGradientAtZeroIsZeroLikePyTorch() {
        Tensor x = Tensor.of(new double[] {0, -0.0, 1e-300}, 3).requiresGrad(true);
        x.relu().sum().backward();
        assertEquals(List.of(0.0, 0.0, 1.0), java.util.Arrays.stream(x.grad().toArray()).boxed().toList());
    }

    /**
     * addRelu is add then relu to the bit in float32 (forward and both gradients, with broadcasting):
     * sums that are zero, negative zero or NaN included, and a gradient of NaN where the sum is not positive.
     */
    @Property(tries = 30)
    void addReluIsAddThenReluToTheBit(@ForAll("pairs") int[][] shapes, @ForAll long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        Tensor a0 = Fixtures.values(seed, -2, 2, shapes[0]).to(DType.F32), b0 = Fixtures.values(seed + 1, -2, 2, shapes[1]).to(DType.F32);
        float[] av = a0.toFloatArray(), bv = b0.toFloatArray();
        for (int i = 0; i < av.length; i++) if (r.nextInt(8) == 0) av[i] = r.nextBoolean() ? Float.NaN : 0f;
        for (int i = 0; i < bv.length; i++) if (r.nextInt(8) == 0) bv[i] = r.nextBoolean() ? -0f : 0f;
        Tensor[] fused = {Tensor.of(av, shapes[0]).requiresGrad(true), Tensor.of(bv, shapes[1]).requiresGrad(true)};
        Tensor[] plain = {Tensor.of(av, shapes[0]).requiresGrad(true), Tensor.of(bv, shapes[1]).requiresGrad(true)};
        Tensor y = fused[0].addRelu(fused[1]), z = plain[0].add(plain[1]).relu();
        String what = "addRelu " + java.util.Arrays.toString(shapes[0]) + " " + java.util.Arrays.toString(shapes[1]);
        assertArrayEquals(z.toFloatArray(), y.toFloatArray(), what);
        float[] g = Fixtures.values(seed + 2, -3, 3, y.shape().toArray()).to(DType.F32).toFloatArray();
        for (int i = 0; i < g.length; i++) if (r.nextInt(8) == 0) g[i] = Float.NaN;
        y.backward(Tensor.of(g, y.shape().toArray()));
        z.backward(Tensor.of(g, y.shape().toArray()));
        assertArrayEquals(plain[0].grad().toFloatArray(), fused[0].grad().toFloatArray(), what + " d/da");
        assertArrayEquals(plain[1].grad().toFloatArray(), fused[1].grad().toFloatArray(), what + " d/db");
    }
}
