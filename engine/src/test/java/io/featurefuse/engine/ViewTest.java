package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/** Shape algebra and view ops: values by index, round trips, both dtypes, gradient checks. */
class ViewTest {

    @Provide
    Arbitrary<int[]> shapes() {
        return Fixtures.shapes(4, 7);
    }

    @Provide
    Arbitrary<int[]> smallShapes() {
        return Fixtures.shapes(3, 4);
    }

    @Provide
    Arbitrary<int[][]> pairs() {
        return Fixtures.broadcastPairs();
    }

    /** Row-major index of a multi-index. */
    static int flat(int[] idx, int[] dims) {
        int f = 0;
        for (int i = 0; i < dims.length; i++) f = f * dims[i] + idx[i];
        return f;
    }

    static int[] unflat(int f, int[] dims) {
        int[] idx = new int[dims.length];
        for (int i = dims.length - 1; i >= 0; i--) {
            idx[i] = f % dims[i];
            f /= dims[i];
        }
        return idx;
    }

    static int[] randomPermutation(int n, SplittableRandom r) {
        List<Integer> p = new ArrayList<>();
        for (int i = 0; i < n; i++) p.add(i);
        java.util.Collections.shuffle(p, new java.util.Random(r.nextLong()));
        return p.stream().mapToInt(Integer::intValue).toArray();
    }

    @Property(tries = 60)
    void broadcastIsCommutativeAndAbsorbsOnes(@ForAll("pairs") int[][] p) {
        Shape a = Shape.of(p[0]), b = Shape.of(p[1]);
        Shape ab = Shape.broadcast(a, b, "t");
        assertEquals(ab, Shape.broadcast(b, a, "t"));
        assertEquals(ab, Shape.broadcast(ab, a, "t"));
        assertEquals(a, Shape.broadcast(a, Shape.of(), "t"));
        assertEquals(ab.numel(), Tensor.zeros(p[0]).add(Tensor.zeros(p[1])).numel());
    }

    @Property(tries = 60)
    void permuteMovesElementsAndInvertsExactly(@ForAll("shapes") int[] shape, @ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] perm = randomPermutation(shape.length, r);
        Tensor x = Fixtures.values(seed, -1, 1, shape);
        Tensor y = x.permute(perm);
        double[] xv = x.toArray(), yv = y.toArray();
        int[] yDims = y.shape().toArray();
        for (int f = 0; f < yv.length; f++) {
            int[] yi = unflat(f, yDims), xi = new int[shape.length];
            for (int i = 0; i < perm.length; i++) xi[perm[i]] = yi[i];
            assertEquals(xv[flat(xi, shape)], yv[f]);
        }
        int[] inv = new int[perm.length];
        for (int i = 0; i < perm.length; i++) inv[perm[i]] = i;
        assertArrayEquals(xv, y.permute(inv).toArray());
        // float32 path through the strided copy kernel agrees too
        assertArrayEquals(y.toArray(), x.to(DType.F32).permute(perm).contiguous().toArray());
    }

    @Property(tries = 60)
    void reshapeRoundTripsAndViewsShareStorage(@ForAll("shapes") int[] shape, @ForAll long seed) {
        Tensor x = Fixtures.values(seed, -1, 1, shape);
        Tensor flatView = x.reshape(-1);
        assertEquals(x.numel(), flatView.numel());
        assertArrayEquals(x.toArray(), flatView.toArray());
        assertArrayEquals(x.toArray(), flatView.reshape(shape).toArray());
        assertSame(x.storage, flatView.storage, "reshape of a contiguous tensor is a view");
        if (shape.length >= 2) {
            Tensor t = x.transpose(0, shape.length - 1);
            assertArrayEquals(t.contiguous().toArray(), t.reshape(-1).toArray());
        }
    }

    @Property(tries = 60)
    void sliceAndNarrowPickTheRightElements(@ForAll("shapes") int[] shape, @ForAll long seed) {
        if (shape.length == 0) return;
        SplittableRandom r = new SplittableRandom(seed);
        int d = r.nextInt(shape.length), size = shape[d];
        int start = r.nextInt(size + 1), end = start + r.nextInt(size - start + 1), step = 1 + r.nextInt(3);
        Tensor x = Fixtures.values(seed, -1, 1, shape);
        Tensor y = x.slice(d, start, end, step);
        double[] xv = x.toArray(), yv = y.toArray();
        int[] yDims = y.shape().toArray();
        for (int f = 0; f < yv.length; f++) {
            int[] idx = unflat(f, yDims);
            idx[d] = start + idx[d] * step;
            assertEquals(xv[flat(idx, shape)], yv[f]);
        }
        assertArrayEquals(yv, x.to(DType.F32).slice(d, start, end, step).toArray(), 1e-7);
    }

    @Property(tries = 40)
    void splitThenConcatIsIdentityAndStackAddsADim(@ForAll("shapes") int[] shape, @ForAll long seed) {
        if (shape.length == 0) return;
        SplittableRandom r = new SplittableRandom(seed);
        int d = r.nextInt(shape.length);
        Tensor x = Fixtures.values(seed, -1, 1, shape);
        List<Tensor> parts = x.split(1 + r.nextInt(shape[d]), d);
        assertArrayEquals(x.toArray(), Tensor.concat(parts, d).toArray());
        List<Tensor> fparts = x.to(DType.F32).split(1 + r.nextInt(shape[d]), d);
        assertArrayEquals(x.toArray(), Tensor.concat(fparts, d).toArray(), 1e-7);
        Tensor s = Tensor.stack(List.of(x, x.mul(2)), d);
        assertEquals(shape.length + 1, s.rank());
        assertArrayEquals(x.mul(2).toArray(), s.narrow(d, 1, 1).squeeze(d).contiguous().toArray());
    }

    @Property(tries = 40)
    void padPlacesTheInputInsideTheValue(@ForAll("shapes") int[] shape, @ForAll long seed) {
        if (shape.length == 0) return;
        SplittableRandom r = new SplittableRandom(seed);
        int pairs = 1 + r.nextInt(shape.length);
        int[] pads = new int[2 * pairs];
        for (int i = 0; i < pads.length; i++) pads[i] = r.nextInt(3);
        Tensor x = Fixtures.values(seed, -1, 1, shape);
        Tensor y = x.pad(7, pads);
        Tensor inner = y;
        for (int i = 0; i < pairs; i++) {
            int d = shape.length - 1 - i;
            inner = inner.narrow(d, pads[2 * i], shape[d]);
        }
        assertArrayEquals(x.toArray(), inner.toArray());
        assertEquals(y.sum().item(), x.sum().item() + 7 * (y.numel() - x.numel()), 1e-9);
        assertArrayEquals(y.toArray(), x.to(DType.F32).pad(7, pads).toArray(), 1e-6);
    }

    @Property(tries = 20)
    void gradients(@ForAll("smallShapes") int[] shape, @ForAll long seed) {
        if (shape.length == 0) return;
        SplittableRandom r = new SplittableRandom(seed);
        int d = r.nextInt(shape.length);
        int[] perm = randomPermutation(shape.length, r);
        Tensor x = Fixtures.values(seed, -1, 1, shape), y = Fixtures.values(seed + 1, -1, 1, shape);
        int start = r.nextInt(shape[d]);
        int[] expandTo = new int[shape.length + 1];
        expandTo[0] = 2;
        for (int i = 0; i < shape.length; i++) expandTo[i + 1] = shape[i];
        GradCheck.check("permute", in -> in.get(0).permute(perm), x);
        GradCheck.check("reshape", in -> in.get(0).reshape(-1), x);
        GradCheck.check("transpose+reshape", in -> in.get(0).transpose(0, -1).reshape(-1).mul(in.get(0).reshape(-1).exp()), x);
        GradCheck.check("slice", in -> in.get(0).slice(d, start, shape[d], 2), x);
        GradCheck.check("narrow", in -> in.get(0).narrow(d, start, shape[d] - start), x);
        GradCheck.check("expand", in -> in.get(0).expand(expandTo).mul(2), x);
        GradCheck.check("concat", in -> Tensor.concat(List.of(in.get(0), in.get(1).mul(in.get(0))), d), x, y);
        GradCheck.check("stack", in -> Tensor.stack(List.of(in.get(0), in.get(1)), d), x, y);
        GradCheck.check("split", in -> in.get(0).split(1, d).get(0).mul(3), x);
        GradCheck.check("pad", in -> in.get(0).pad(1.5, 1, 2).mul(in.get(0).pad(0, 1, 2)), x);
        // A cast's gradient is the identity (cast back); finite differences through float32
        // rounding are too coarse to check it, so check it exactly.
        Tensor leaf = x.copy().requiresGrad(true);
        leaf.to(DType.F32).mul(y.to(DType.F32)).sum().backward();
        assertArrayEquals(y.to(DType.F32).toArray(), leaf.grad().toArray());
        assertEquals(DType.F64, leaf.grad().dtype());
    }

    @Test
    void viewsShareStorageAndContiguousCopiesOnlyWhenNeeded() {
        Tensor x = Tensor.arange(12).reshape(3, 4);
        assertSame(x, x.contiguous());
        Tensor t = x.transpose(0, 1);
        assertTrue(!t.isContiguous());
        assertTrue(t.contiguous().isContiguous());
        assertEquals(4.0, t.get(0, 1));
        assertThrows(IllegalArgumentException.class, () -> t.view(12));
        assertArrayEquals(new double[] {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, t.reshape(12).toArray());
        assertEquals(Shape.of(2, 3, 4), x.expand(2, -1, -1).shape());
        assertEquals(Shape.of(3, 1, 4), x.unsqueeze(1).shape());
        assertEquals(Shape.of(12), x.flatten(0, -1).shape());
    }

    @Test
    void badShapesAreClearErrors() {
        Tensor x = Tensor.zeros(2, 3);
        assertEquals("reshape: shape [4, 2] (8 elements) does not fit a tensor of shape [2, 3] (6 elements)",
                assertThrows(IllegalArgumentException.class, () -> x.reshape(4, 2)).getMessage());
        assertEquals("permute: [0, 0] is not a permutation",
                assertThrows(IllegalArgumentException.class, () -> x.permute(0, 0)).getMessage());
        assertEquals("concat: shapes [2, 3] and [2, 4] differ outside dim 0",
                assertThrows(IllegalArgumentException.class, () -> Tensor.concat(List.of(x, Tensor.zeros(2, 4)), 0)).getMessage());
        assertEquals("expand: shape [2, 3] cannot be expanded to [2, 4]",
                assertThrows(IllegalArgumentException.class, () -> x.expand(2, 4)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> x.narrow(1, 2, 2));
        assertThrows(IllegalArgumentException.class, () -> x.split(new int[] {1, 1}, 1));
    }

    @Test
    void floatAndDoubleConvertBothWays() {
        Tensor x = Tensor.of(new float[] {1.5f, -2.25f}, 2);
        assertArrayEquals(new double[] {1.5, -2.25}, x.to(DType.F64).toArray());
        assertEquals(DType.F32, x.to(DType.F64).to(DType.F32).dtype());
    }
}
