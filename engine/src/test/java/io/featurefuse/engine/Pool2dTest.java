package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import java.util.function.Function;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/** Max, average and adaptive pooling: PyTorch's window rules by example, fast vs reference, gradients. */
class Pool2dTest {

    record Case(int[] shape, PoolOptions o, int adaptiveH, int adaptiveW) {
        static Case random(long seed, int maxSide) {
            SplittableRandom r = new SplittableRandom(seed);
            while (true) {
                int kh = 1 + r.nextInt(4), kw = 1 + r.nextInt(4);
                PoolOptions o = new PoolOptions(kh, kw, 1 + r.nextInt(3), 1 + r.nextInt(3), r.nextInt(kh / 2 + 1), r.nextInt(kw / 2 + 1),
                        r.nextBoolean(), r.nextBoolean());
                int h = 1 + r.nextInt(maxSide), w = 1 + r.nextInt(maxSide);
                if (PoolOptions.outSize(h, kh, o.strideH(), o.padH(), o.ceilMode()) < 1
                        || PoolOptions.outSize(w, kw, o.strideW(), o.padW(), o.ceilMode()) < 1) continue;
                return new Case(new int[] {1 + r.nextInt(3), 1 + r.nextInt(4), h, w}, o, 1 + r.nextInt(h + 2), 1 + r.nextInt(w + 2));
            }
        }

        Function<Tensor, Tensor>[] ops() {
            @SuppressWarnings("unchecked")
            Function<Tensor, Tensor>[] f = new Function[] {
                    (Function<Tensor, Tensor>) x -> x.maxPool2d(o),
                    (Function<Tensor, Tensor>) x -> x.avgPool2d(o),
                    (Function<Tensor, Tensor>) x -> x.adaptiveAvgPool2d(adaptiveH, adaptiveW),
                    (Function<Tensor, Tensor>) x -> x.adaptiveMaxPool2d(adaptiveH, adaptiveW)};
            return f;
        }
    }

    static final String[] NAMES = {"maxPool2d", "avgPool2d", "adaptiveAvgPool2d", "adaptiveMaxPool2d"};

    @Property(tries = 60)
    void fastMatchesReferenceForwardAndBackward(@ForAll long seed) {
        Case c = Case.random(seed, 15);
        Tensor x = Fixtures.values(seed, -1, 1, c.shape);
        Function<Tensor, Tensor>[] ops = c.ops();
        for (int i = 0; i < ops.length; i++) {
            String what = NAMES[i] + " " + java.util.Arrays.toString(c.shape) + " " + c.o + " adaptive " + c.adaptiveH + "x" + c.adaptiveW;
            Tensor rx = x.copy().requiresGrad(true), fx = x.to(DType.F32).requiresGrad(true);
            Tensor ref = ops[i].apply(rx), fast = ops[i].apply(fx);
            assertClose(what, fast, ref, 1e-6, 1e-6);
            Tensor up = Fixtures.values(seed + 1, -1, 1, ref.shape().toArray());
            ref.backward(up);
            fast.backward(up.to(DType.F32));
            assertClose(what + " backward", fx.grad(), rx.grad(), 1e-5, 1e-5);
        }
    }

    /**
     * Average windows of a vector and more (global pools, bands of whole rows, wide adaptive and
     * fixed windows) are summed and spread in vector runs: against the reference, forward and
     * backward, on planes up to 40 x 40.
     */
    @Property(tries = 30)
    void wideAverageWindowsMatchReference(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int h = 1 + r.nextInt(40), w = 1 + r.nextInt(40), oh = 1 + r.nextInt(3), ow = 1 + r.nextInt(3);
        int kh = 1 + r.nextInt(h), kw = 1 + r.nextInt(w);
        Tensor x = Fixtures.values(seed, -1, 1, 1 + r.nextInt(2), 1 + r.nextInt(3), h, w);
        java.util.List<Function<Tensor, Tensor>> ops = java.util.List.of(t -> t.adaptiveAvgPool2d(1, 1), t -> t.adaptiveAvgPool2d(oh, 1),
                t -> t.adaptiveAvgPool2d(oh, ow), t -> t.avgPool2d(new PoolOptions(kh, kw, kh, kw, 0, 0, false, true)));
        for (int i = 0; i < ops.size(); i++) {
            String what = "op " + i + " on " + h + "x" + w + " (out " + oh + "x" + ow + ", kernel " + kh + "x" + kw + ")";
            Tensor rx = x.copy().requiresGrad(true), fx = x.to(DType.F32).requiresGrad(true);
            Tensor ref = ops.get(i).apply(rx), fast = ops.get(i).apply(fx);
            assertClose(what, fast, ref, 1e-6, 1e-6);
            Tensor up = Fixtures.values(seed + 1, -1, 1, ref.shape().toArray());
            ref.backward(up);
            fast.backward(up.to(DType.F32));
            assertClose(what + " backward", fx.grad(), rx.grad(), 1e-6, 1e-6);
        }
    }

    /**
     * The halving 2x2 max pool has its own unrolled kernels, one for rows of whole vectors and tails, one for output
     * rows narrower than a vector (half the tries, at every vector width): ties (few distinct values) and NaNs included.
     */
    @Property(tries = 40)
    void halvingMaxPoolMatchesReferenceWithTiesAndNaNs(@ForAll long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        int n = 1 + r.nextInt(3), c = 1 + r.nextInt(4), h = 2 * (1 + r.nextInt(7)), w = 2 * (1 + r.nextInt(r.nextBoolean() ? 40 : 7));
        double[] v = new double[n * c * h * w];
        for (int i = 0; i < v.length; i++) v[i] = r.nextInt(10) == 0 ? Double.NaN : r.nextInt(4) - 1.5; // many ties
        Tensor x = Tensor.of(v, n, c, h, w);
        Tensor rx = x.copy().requiresGrad(true), fx = x.to(DType.F32).requiresGrad(true);
        Tensor ref = rx.maxPool2d(PoolOptions.of(2)), fast = fx.maxPool2d(PoolOptions.of(2));
        double[] a = ref.toArray(), b = fast.toArray();
        for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], "output " + i);
        try (var off = GradMode.off()) { // without a graph the kernels skip the argmax: the maxima stay the same
            assertArrayEquals(fast.toFloatArray(), x.to(DType.F32).maxPool2d(PoolOptions.of(2)).toFloatArray());
            assertArrayEquals(ref.toArray(), x.maxPool2d(PoolOptions.of(2)).toArray());
        }
        Tensor up = Fixtures.values(seed + 1, -1, 1, ref.shape().toArray());
        ref.backward(up);
        fast.backward(up.to(DType.F32));
        assertClose("halving max pool backward", fx.grad(), rx.grad(), 1e-6, 1e-6); // the same argmax on both paths
    }

    @Property(tries = 20)
    void gradients(@ForAll long seed) {
        Case c = Case.random(seed, 7);
        Tensor x = Fixtures.distinct(seed, -1, 1, c.shape); // the max ops' gradient needs no near-ties
        Function<Tensor, Tensor>[] ops = c.ops();
        for (int i = 0; i < ops.length; i++) {
            Function<Tensor, Tensor> op = ops[i];
            GradCheck.check(NAMES[i] + " " + c, in -> op.apply(in.get(0)), x);
        }
    }

    static Tensor grid(int h, int w) {
        return Tensor.arange(h * w).reshape(1, 1, h, w);
    }

    @Test
    void maxPoolTakesTheWindowMaximum() {
        assertArrayEquals(new double[] {5, 7, 13, 15}, grid(4, 4).maxPool2d(PoolOptions.of(2)).toArray());
    }

    @Test
    void avgPoolPaddingFollowsCountIncludePad() {
        PoolOptions o = PoolOptions.of(3, 2, 1);
        assertArrayEquals(new double[] {10 / 9.0, 24 / 9.0, 51 / 9.0, 10}, grid(4, 4).avgPool2d(o).toArray(), 1e-6);
        assertArrayEquals(new double[] {2.5, 4, 8.5, 10}, grid(4, 4).avgPool2d(o.withCountIncludePad(false)).toArray(), 1e-6);
    }

    @Test
    void ceilModeAddsAPartialWindowCountedOnlyOverTheInput() {
        Tensor y = grid(5, 5).avgPool2d(PoolOptions.of(2).withCeilMode(true));
        assertEquals(Shape.of(1, 1, 3, 3), y.shape());
        assertEquals(24.0, y.get(0, 0, 2, 2));
        assertEquals(6.5, y.get(0, 0, 0, 2));
        assertEquals(Shape.of(1, 1, 2, 2), grid(5, 5).maxPool2d(PoolOptions.of(2)).shape());
        // the last window must start inside the input or the left padding: 5x5, k 2, s 2, pad 1 gives 3, not 4
        assertEquals(Shape.of(1, 1, 3, 3), grid(5, 5).maxPool2d(PoolOptions.of(2, 2, 1).withCeilMode(true)).shape());
    }

    @Test
    void adaptiveBinsOverlapLikePyTorch() {
        assertArrayEquals(new double[] {0.5, 2, 3.5}, grid(1, 5).adaptiveAvgPool2d(1, 3).toArray(), 1e-6);
        assertArrayEquals(new double[] {1, 3, 4}, grid(1, 5).adaptiveMaxPool2d(1, 3).toArray());
        Tensor x = Fixtures.values(3, -1, 1, 2, 3, 5, 7);
        assertClose("global pooling is the mean", x.adaptiveAvgPool2d(1, 1), x.mean(true, 2, 3), 1e-12, 1e-12);
    }

    @Test
    void maxPoolGradientGoesToTheFirstMaximum() {
        Tensor x = Tensor.of(new double[] {3, 3, 1, 2}, 1, 1, 2, 2).requiresGrad(true);
        x.maxPool2d(PoolOptions.of(2)).sum().backward();
        assertArrayEquals(new double[] {1, 0, 0, 0}, x.grad().toArray());
    }

    @Test
    void badInputsAreClearErrors() {
        assertEquals("maxPool2d: input must be [N, C, H, W], not [3, 4]",
                assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(3, 4).maxPool2d(PoolOptions.of(2))).getMessage());
        assertEquals("pool2d: padding 2x2 must lie between 0 and half the kernel 3x3",
                assertThrows(IllegalArgumentException.class, () -> PoolOptions.of(3, 1, 2)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> grid(2, 2).avgPool2d(PoolOptions.of(3)));
        assertThrows(IllegalArgumentException.class, () -> grid(2, 2).adaptiveAvgPool2d(0, 1));
    }
}
