package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/** interpolate: PyTorch's values by example, fast vs reference over sizes and scale factors, gradients. */
class InterpolateTest {
    static final Tensor SQUARE = Tensor.of(new float[] {1, 2, 3, 4}, 1, 1, 2, 2);

    @Test
    void bilinearWithoutAlignCornersMatchesPyTorch() {
        assertArrayEquals(new double[] {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4},
                SQUARE.interpolate(4, 4, InterpolationMode.BILINEAR, false).toArray(), 1e-6);
    }

    @Test
    void bilinearWithAlignCornersMatchesPyTorch() {
        assertArrayEquals(new double[] {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4},
                SQUARE.interpolate(3, 3, InterpolationMode.BILINEAR, true).toArray(), 1e-6);
    }

    @Test
    void nearestAndAreaMatchPyTorch() {
        assertArrayEquals(new double[] {1, 1, 2, 1, 1, 2, 3, 3, 4}, SQUARE.interpolate(3, 3, InterpolationMode.NEAREST, false).toArray());
        assertArrayEquals(new double[] {2.5}, SQUARE.interpolate(1, 1, InterpolationMode.AREA, false).toArray());
        Tensor up = SQUARE.interpolateScale(2, 2, InterpolationMode.NEAREST, false);
        assertEquals(Shape.of(1, 1, 4, 4), up.shape());
        assertArrayEquals(new double[] {1, 1, 2, 2}, up.narrow(2, 0, 1).reshape(4).toArray());
    }

    @Property(tries = 60)
    void fastMatchesReferenceForwardAndBackward(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int h = 1 + r.nextInt(9), w = 1 + r.nextInt(9);
        Tensor x = Fixtures.values(seed, -1, 1, 1 + r.nextInt(2), 1 + r.nextInt(3), h, w);
        InterpolationMode mode = InterpolationMode.values()[r.nextInt(3)];
        boolean align = mode == InterpolationMode.BILINEAR && r.nextBoolean();
        boolean byScale = r.nextBoolean();
        double sh = 0.5 + r.nextInt(7) * 0.25, sw = 0.5 + r.nextInt(7) * 0.25;
        if (byScale && (Math.floor(h * sh) < 1 || Math.floor(w * sw) < 1)) byScale = false;
        int oh = 1 + r.nextInt(17), ow = 1 + r.nextInt(17);
        boolean scaled = byScale;
        java.util.function.Function<Tensor, Tensor> f = t -> scaled ? t.interpolateScale(sh, sw, mode, align) : t.interpolate(oh, ow, mode, align);
        Tensor rx = x.copy().requiresGrad(true), fx = x.to(DType.F32).requiresGrad(true);
        Tensor ref = f.apply(rx), fast = f.apply(fx);
        String what = mode + " align " + align + " " + x.shape() + " -> " + ref.shape();
        assertClose(what, fast, ref, 1e-5, 1e-5);
        Tensor g = Fixtures.values(seed + 1, -1, 1, ref.shape().toArray());
        ref.backward(g);
        fast.backward(g.to(DType.F32));
        assertClose(what + " backward", fx.grad(), rx.grad(), 1e-4, 1e-5);
    }

    /**
     * Behind a concat, backward gets a channel slice of the concat's gradient (whole planes, the
     * larger tensor's image stride) and reads it in place: the input gradient must equal, bit for
     * bit, the one from the same values as a dense gradient. Both precisions, batch above 1.
     */
    @Property(tries = 20)
    void aChannelSliceOfTheGradientGivesTheDenseOnesResult(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = 2 + r.nextInt(2), c = 1 + r.nextInt(3), before = 1 + r.nextInt(3), oh = 1 + r.nextInt(9), ow = 1 + r.nextInt(9);
        InterpolationMode mode = r.nextBoolean() ? InterpolationMode.BILINEAR : InterpolationMode.NEAREST;
        Tensor x0 = Fixtures.values(seed, -1, 1, n, c, 1 + r.nextInt(6), 1 + r.nextInt(6));
        Tensor other = Fixtures.values(seed + 1, -1, 1, n, before, oh, ow), weights = Fixtures.values(seed + 2, -1, 1, n, before + c, oh, ow);
        for (DType dtype : DType.values()) {
            Tensor viaConcat = x0.to(dtype).copy().requiresGrad(true), alone = x0.to(dtype).copy().requiresGrad(true);
            Tensor.concat(java.util.List.of(other.to(dtype), viaConcat.interpolate(oh, ow, mode, false)), 1).mul(weights.to(dtype)).sum().backward();
            alone.interpolate(oh, ow, mode, false).mul(weights.to(dtype).narrow(1, before, c).contiguous()).sum().backward();
            assertArrayEquals(alone.grad().toArray(), viaConcat.grad().toArray(), 0.0, mode + " " + dtype + " " + x0.shape() + " -> " + oh + "x" + ow);
        }
    }

    @Property(tries = 15)
    void gradients(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Tensor x = Fixtures.values(seed, -1, 1, 1, 2, 1 + r.nextInt(5), 1 + r.nextInt(5));
        int oh = 1 + r.nextInt(8), ow = 1 + r.nextInt(8);
        for (InterpolationMode mode : InterpolationMode.values())
            for (boolean align : new boolean[] {false, true}) {
                if (align && mode != InterpolationMode.BILINEAR) continue;
                GradCheck.check(mode + " align " + align, in -> in.get(0).interpolate(oh, ow, mode, align), x);
            }
    }

    @Test
    void theReferenceModelsResizeOf7x7To14x14IsSmooth() {
        Tensor b = Fixtures.values(5, -1, 1, 2, 96, 7, 7).to(DType.F32);
        Tensor up = b.interpolate(14, 14, InterpolationMode.BILINEAR, false);
        assertEquals(Shape.of(2, 96, 14, 14), up.shape());
        assertClose("mean is kept", up.mean(false, 2, 3), b.mean(false, 2, 3), 0.05, 0);
    }

    @Test
    void badArgumentsAreClearErrors() {
        assertEquals("interpolate: alignCorners applies to bilinear only, not nearest",
                assertThrows(IllegalArgumentException.class, () -> SQUARE.interpolate(3, 3, InterpolationMode.NEAREST, true)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> SQUARE.interpolate(0, 3, InterpolationMode.BILINEAR, false));
        assertThrows(IllegalArgumentException.class, () -> SQUARE.interpolateScale(-1, 2, InterpolationMode.BILINEAR, false));
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(2, 2).interpolate(3, 3, InterpolationMode.BILINEAR, false));
    }
}
