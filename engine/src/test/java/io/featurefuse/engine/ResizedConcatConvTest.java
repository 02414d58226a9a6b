package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.cpu.ConvGeom;
import io.featurefuse.engine.cpu.PointwiseParts;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * Fused.conv2dOfResizedConcat (and with BN, ReLU and the pool): float32, where a smaller map runs through the 1x1 layer
 * at its own size and the output is resized, against float64's composition, interpolate then concat then conv2d
 * (the definition): outputs, running statistics and every gradient.
 */
class ResizedConcatConvTest {
    private static final int N = 3;

    /**
     * Two or three maps of 1 to 40 channels, rows narrower and wider than a vector: at the size, smaller (folded, nearest or bilinear with either corner rule),
     * or larger or area-resized (resized first); bias or none; now and then a 3x3 layer (the composition).
     */
    @Property(tries = 40)
    void isResizeThenConcatThenConv(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int parts = 2 + r.nextInt(2), oh = 1 + r.nextInt(15), ow = r.nextInt(4) == 0 ? 17 + r.nextInt(24) : 1 + r.nextInt(15), k = 1 + r.nextInt(40), kernel = r.nextInt(8) == 0 ? 3 : 1;
        InterpolationMode mode = r.nextInt(8) == 0 ? InterpolationMode.AREA : r.nextBoolean() ? InterpolationMode.BILINEAR : InterpolationMode.NEAREST;
        ResizeSpec to = new ResizeSpec(oh, ow, mode, mode == InterpolationMode.BILINEAR && r.nextBoolean());
        List<Tensor> maps = new ArrayList<>();
        int channels = 0;
        boolean smaller = false;
        for (int i = 0; i < parts; i++) {
            int c = 1 + r.nextInt(40), h = r.nextInt(3) == 0 ? oh : 1 + r.nextInt(oh + 2), w = r.nextInt(3) == 0 ? ow : 1 + r.nextInt(ow + 2);
            smaller |= (long) h * w < (long) oh * ow;
            maps.add(Fixtures.values(seed + 10 + i, -1, 1, N, c, h, w));
            channels += c;
        }
        Tensor weight = Fixtures.values(seed + 1, -1, 1, k, channels, kernel, kernel);
        Tensor bias = r.nextBoolean() ? Fixtures.values(seed + 2, -1, 1, k) : null;
        ConvOptions o = new ConvOptions(1, 1, kernel / 2, kernel / 2, 1, 1, 1);
        List<Tensor> in = with(maps, bias == null ? new Tensor[] {weight} : new Tensor[] {weight, bias});
        String what = to + ", " + shapes(maps) + " -> " + k + ", " + kernel + "x" + kernel + (bias == null ? "" : ", bias");
        boolean[] folded = new boolean[1];
        assertMatchesReference(what, in, t -> {
            Tensor y = Fused.conv2dOfResizedConcat(t.subList(0, parts), to, t.get(parts), bias == null ? null : t.get(parts + 1), o);
            if (y.dtype() == DType.F32) folded[0] = folded(y);
            return y;
        }, seed);
        boolean pointwise = kernel == 1 && PointwiseParts.applies(new ConvGeom(N, channels, oh, ow, k, 1, 1, oh, ow, 1, 1, 0, 0, 1, 1, 1));
        if (pointwise && mode != InterpolationMode.AREA && smaller) assertTrue(folded[0], what + ": a smaller map runs through the layer at its own size");
    }

    /** The reference model's head: 64 channels at 14x14 and 96 at 7x7 (bilinear) into 128, BN (training and eval), ReLU, global pool. */
    @Test
    void theReferenceHeadIsResizeThenConcatThenConvBatchNormReluPool() {
        ResizeSpec to = new ResizeSpec(14, 14, InterpolationMode.BILINEAR, false);
        ConvOptions o = new ConvOptions(1, 1, 0, 0, 1, 1, 1);
        for (boolean training : new boolean[] {true, false}) {
            List<Tensor> maps = List.of(Fixtures.values(11, -1, 1, 4, 64, 14, 14), Fixtures.values(12, -1, 1, 4, 96, 7, 7));
            Tensor w = Fixtures.values(13, -0.1, 0.1, 128, 160, 1, 1);
            Tensor bnWeight = Fixtures.values(14, 0.5, 1.5, 128), bnBias = Fixtures.values(15, -0.5, 0.5, 128);
            Tensor[] stats32 = runningStats(DType.F32), stats64 = runningStats(DType.F64);
            boolean[] folded = new boolean[1];
            assertMatchesReference("head, training " + training, with(maps, w, bnWeight, bnBias), t -> {
                Tensor[] stats = t.get(0).dtype() == DType.F32 ? stats32 : stats64;
                BatchNormSpec bn = new BatchNormSpec(stats[0], stats[1], t.get(3), t.get(4), training, 0.1, 1e-5);
                Tensor out = Fused.conv2dOfResizedConcatBatchNormReluPool(t.subList(0, 2), to, t.get(2), null, o, bn);
                if (t.get(0).dtype() == DType.F32) folded[0] = folded((Tensor) out.gradFn.node().inputs().get(0));
                return out;
            }, 16);
            assertClose("running mean", stats32[0], stats64[0], 1e-5, 1e-4);
            assertClose("running variance", stats32[1], stats64[1], 1e-5, 1e-4);
            assertTrue(folded[0], "the head's 7x7 map runs through the layer at 7x7");
        }
    }

    /**
     * conv2dOfResizedConcatRelu: without recording (the clamp in the conv's output pass, float32) against float64's
     * composition; recording, its gradients too (relu after the conv).
     */
    @Test
    void withReluIsTheReluOfIt() {
        ResizeSpec to = new ResizeSpec(10, 9, InterpolationMode.BILINEAR, true);
        ConvOptions o = new ConvOptions(1, 1, 0, 0, 1, 1, 1);
        List<Tensor> base = List.of(Fixtures.values(31, -1, 1, N, 20, 10, 9), Fixtures.values(32, -1, 1, N, 24, 4, 5), Fixtures.values(33, -1, 1, 17, 44, 1, 1),
                Fixtures.values(34, -1, 1, 17));
        Function<List<Tensor>, Tensor> f = t -> Fused.conv2dOfResizedConcatRelu(t.subList(0, 2), to, t.get(2), t.get(3), o);
        Tensor reference = Fused.conv2dOfResizedConcat(base.subList(0, 2), to, base.get(2), base.get(3), o).relu();
        try (var off = GradMode.off()) {
            Tensor fast = f.apply(leaves(base, DType.F32));
            assertClose("not recording", fast, reference, 2e-4, 2e-4);
            assertTrue(java.util.Arrays.stream(fast.toArray()).anyMatch(v -> v == 0) && java.util.Arrays.stream(fast.toArray()).anyMatch(v -> v > 0), "clamped");
        }
        assertMatchesReference("recording", base, f, 35);
    }

    /** Float64 runs as the composition: its gradients against finite differences. */
    @Test
    void float64GradientsMatchFiniteDifferences() {
        Tensor a = Fixtures.values(21, -1, 1, 2, 2, 3, 3), b = Fixtures.values(22, -1, 1, 2, 3, 2, 2);
        Tensor w = Fixtures.values(23, -1, 1, 4, 5, 1, 1), bias = Fixtures.values(24, -1, 1, 4);
        ConvOptions o = new ConvOptions(1, 1, 0, 0, 1, 1, 1);
        ResizeSpec to = new ResizeSpec(3, 3, InterpolationMode.BILINEAR, false);
        GradCheck.check("conv2dOfResizedConcat", in -> Fused.conv2dOfResizedConcat(in.subList(0, 2), to, in.get(2), in.get(3), o), a, b, w, bias);
    }

    @Test
    void badInputIsNamed() {
        Tensor a = Tensor.full(Shape.of(2, 3, 4, 4), DType.F32, 0), b = Tensor.full(Shape.of(3, 5, 2, 2), DType.F32, 0);
        Tensor w = Tensor.full(Shape.of(4, 8, 1, 1), DType.F32, 0);
        ConvOptions o = new ConvOptions(1, 1, 0, 0, 1, 1, 1);
        ResizeSpec to = new ResizeSpec(4, 4, InterpolationMode.BILINEAR, false);
        var e = assertThrows(IllegalArgumentException.class, () -> Fused.conv2dOfResizedConcat(List.of(a, b), to, w, null, o));
        assertEquals("conv2dOfConcat: maps [2, 3, 4, 4] and [3, 5, 2, 2] differ outside the channels and the size", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new ResizeSpec(0, 4, InterpolationMode.BILINEAR, false));
        assertEquals("resize: size 0x4 must be at least 1x1", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new ResizeSpec(4, 4, InterpolationMode.NEAREST, true));
        assertEquals("resize: alignCorners applies to bilinear only, not nearest", e.getMessage());
        Tensor c = Tensor.full(Shape.of(2, 4, 2, 2), DType.F32, 0);
        e = assertThrows(IllegalArgumentException.class, () -> Fused.conv2dOfResizedConcat(List.of(a, c), to, w, null, o));
        assertTrue(e.getMessage().contains("has 7 channels but weight"), e.getMessage());
    }

    /** True when t was made by the pointwise layer with a map folded in (a resize recorded beside its parts). */
    private static boolean folded(Tensor t) {
        return t.gradFn != null && t.gradFn.node() instanceof Node.Conv2dOfConcat c && c.resized() != null
                && java.util.Arrays.stream(c.resized()).anyMatch(java.util.Objects::nonNull);
    }

    /** Runs f on float32 and on float64 leaves with the values of base, and compares the outputs and every leaf's gradient. */
    private static void assertMatchesReference(String what, List<Tensor> base, Function<List<Tensor>, Tensor> f, long seed) {
        List<Tensor> fast = leaves(base, DType.F32), ref = leaves(base, DType.F64);
        Tensor fy = f.apply(fast), ry = f.apply(ref);
        assertClose(what + ": output", fy, ry, 2e-4, 2e-4);
        Tensor up = Fixtures.values(seed + 7, -1, 1, ry.shape().toArray());
        fy.backward(up.to(DType.F32));
        ry.backward(up);
        for (int i = 0; i < base.size(); i++) assertClose(what + ": gradient of input " + i, fast.get(i).grad(), ref.get(i).grad(), 5e-4, 2e-4);
    }

    private static Tensor[] runningStats(DType dtype) {
        return new Tensor[] {Tensor.full(Shape.of(128), dtype, 0), Tensor.full(Shape.of(128), dtype, 1)};
    }

    private static List<Tensor> with(List<Tensor> maps, Tensor... more) {
        List<Tensor> all = new ArrayList<>(maps);
        all.addAll(List.of(more));
        return all;
    }

    private static List<Tensor> leaves(List<Tensor> ts, DType dtype) {
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : ts) out.add(t.to(dtype).copy().requiresGrad(true));
        return out;
    }

    private static String shapes(List<Tensor> maps) {
        return maps.stream().map(m -> m.shape().toString()).toList().toString();
    }
}
