package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.cpu.ConvGeom;
import io.featurefuse.engine.cpu.Parallel;
import io.featurefuse.engine.cpu.PointwiseParts;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * Fused.conv2dOfConcat and conv2dOfConcatBatchNormReluPool: the bits of concat then conv2d (then BN, ReLU and the
 * pool), forward, running statistics and every gradient, whether the 1x1 layer reads the maps in place
 * (PointwiseParts) or runs as the composition.
 */
class ConcatConvTest {
    private static final int N = Math.max(2, Parallel.threads());

    /**
     * Two to four maps of 1 to 40 channels (joined: fewer and more than 16, where a joined layer's input gradient
     * takes another route), views among them, bias or none; and a few 3x3 layers and single images, which run as the
     * composition.
     */
    @Property(tries = 40)
    void isConcatThenConv(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int parts = 2 + r.nextInt(3), side = 1 + r.nextInt(16), k = 1 + r.nextInt(40), kernel = r.nextInt(6) == 0 ? 3 : 1;
        int n = r.nextInt(8) == 0 ? 1 : N;
        int[] channels = new int[parts];
        for (int i = 0; i < parts; i++) channels[i] = 1 + r.nextInt(40);
        List<Tensor> maps = maps(seed, n, channels, side);
        boolean views = r.nextBoolean();
        Tensor w = Fixtures.values(seed + 1, -1, 1, k, java.util.Arrays.stream(channels).sum(), kernel, kernel).to(DType.F32);
        Tensor b = r.nextBoolean() ? Fixtures.values(seed + 2, -1, 1, k).to(DType.F32) : null;
        ConvOptions o = new ConvOptions(1, 1, kernel / 2, kernel / 2, 1, 1, 1);
        String what = java.util.Arrays.toString(channels) + " -> " + k + ", " + kernel + "x" + kernel + " " + side + "x" + side + " n " + n
                + (views ? ", views" : "");
        assertSameBits(what, b == null ? with(maps, w) : with(maps, w, b), in -> Fused.conv2dOfConcat(shaped(in.subList(0, parts), views), in.get(parts), b == null ? null : in.get(parts + 1), o),
                in -> Tensor.concat(shaped(in.subList(0, parts), views), 1).conv2d(in.get(parts), b == null ? null : in.get(parts + 1), o), seed);
    }

    /** The reference model's head: 64 + 96 channels at 14x14 into 128, BN (training and eval), ReLU, global pool. */
    @Test
    void theReferenceHeadIsConcatThenConvBatchNormReluPool() {
        int[] channels = {64, 96};
        ConvGeom g = new ConvGeom(N, 160, 14, 14, 128, 1, 1, 14, 14, 1, 1, 0, 0, 1, 1, 1);
        assertTrue(PointwiseParts.applies(g), "the reference head reads its maps in place");
        for (boolean training : new boolean[] {true, false}) {
            List<Tensor> maps = maps(11, N, channels, 14);
            Tensor w = Fixtures.values(12, -0.1, 0.1, 128, 160, 1, 1).to(DType.F32);
            Tensor[] fusedStats = runningStats(), plainStats = runningStats();
            ConvOptions o = new ConvOptions(1, 1, 0, 0, 1, 1, 1);
            Tensor bnWeight = Fixtures.values(18, 0.5, 1.5, 128).to(DType.F32), bnBias = Fixtures.values(19, -0.5, 0.5, 128).to(DType.F32);
            assertSameBits("head, training " + training, with(maps, w, bnWeight, bnBias),
                    in -> Fused.conv2dOfConcatBatchNormReluPool(in.subList(0, 2), in.get(2), null, o, spec(fusedStats, in, training)),
                    in -> Fused.conv2dBatchNormReluPool(Tensor.concat(in.subList(0, 2), 1), in.get(2), null, o, spec(plainStats, in, training)), 13);
            assertArrayEquals(plainStats[0].toFloatArray(), fusedStats[0].toFloatArray(), "running mean");
            assertArrayEquals(plainStats[1].toFloatArray(), fusedStats[1].toFloatArray(), "running variance");
        }
    }

    /** Float64 runs as the composition: its gradients against finite differences. */
    @Test
    void float64GradientsMatchFiniteDifferences() {
        Tensor a = Fixtures.values(21, -1, 1, 2, 2, 3, 3), b = Fixtures.values(22, -1, 1, 2, 3, 3, 3);
        Tensor w = Fixtures.values(23, -1, 1, 4, 5, 1, 1), bias = Fixtures.values(24, -1, 1, 4);
        ConvOptions o = new ConvOptions(1, 1, 0, 0, 1, 1, 1);
        GradCheck.check("conv2dOfConcat", in -> Fused.conv2dOfConcat(in.subList(0, 2), in.get(2), in.get(3), o), a, b, w, bias);
    }

    @Test
    void badMapsAreNamed() {
        Tensor a = Tensor.full(Shape.of(2, 3, 4, 4), DType.F32, 0), b = Tensor.full(Shape.of(2, 5, 4, 5), DType.F32, 0);
        Tensor w = Tensor.full(Shape.of(4, 8, 1, 1), DType.F32, 0);
        ConvOptions o = new ConvOptions(1, 1, 0, 0, 1, 1, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> Fused.conv2dOfConcat(List.of(a, b), w, null, o));
        assertEquals("conv2dOfConcat: maps [2, 3, 4, 4] and [2, 5, 4, 5] differ outside the channels", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Fused.conv2dOfConcat(List.of(), w, null, o));
        assertEquals("conv2dOfConcat: needs at least one map", e.getMessage());
        Tensor c = Tensor.full(Shape.of(2, 4, 4, 4), DType.F32, 0);
        e = assertThrows(IllegalArgumentException.class, () -> Fused.conv2dOfConcat(List.of(a, c), w, null, o));
        assertTrue(e.getMessage().contains("has 7 channels but weight"), e.getMessage());
    }

    private static Tensor[] runningStats() {
        return new Tensor[] {Tensor.full(Shape.of(128), DType.F32, 0), Tensor.full(Shape.of(128), DType.F32, 1)};
    }

    private static BatchNormSpec spec(Tensor[] stats, List<Tensor> in, boolean training) {
        return new BatchNormSpec(stats[0], stats[1], in.get(3), in.get(4), training, 0.1, 1e-5);
    }

    /** Runs fused and plain on fresh leaves with the values of base, and compares the outputs and every leaf's gradient to the bit. */
    private static void assertSameBits(String what, List<Tensor> base, Function<List<Tensor>, Tensor> fused, Function<List<Tensor>, Tensor> plain,
                                       long seed) {
        List<Tensor> fIn = leaves(base), pIn = leaves(base);
        Tensor fy = fused.apply(fIn), py = plain.apply(pIn);
        assertArrayEquals(py.toFloatArray(), fy.toFloatArray(), what + ": output");
        Tensor up = Fixtures.values(seed + 7, -1, 1, py.shape().toArray()).to(DType.F32);
        fy.backward(up);
        py.backward(up);
        for (int i = 0; i < base.size(); i++)
            assertArrayEquals(pIn.get(i).grad().toFloatArray(), fIn.get(i).grad().toFloatArray(), what + ": gradient of input " + i);
    }

    /** The maps, then the other inputs. */
    private static List<Tensor> with(List<Tensor> maps, Tensor... more) {
        List<Tensor> all = new ArrayList<>(maps);
        all.addAll(List.of(more));
        return all;
    }

    /** Fresh leaves with the values of ts. */
    private static List<Tensor> leaves(List<Tensor> ts) {
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : ts) out.add(t.copy().requiresGrad(true));
        return out;
    }

    private static List<Tensor> maps(long seed, int n, int[] channels, int side) {
        List<Tensor> maps = new ArrayList<>();
        for (int i = 0; i < channels.length; i++) maps.add(Fixtures.values(seed + 100 + i, -1, 1, n, channels[i], side, side).to(DType.F32));
        return maps;
    }

    /** With views, every other map transposed in its planes: a view that is not dense, whose gradient flows back through it. */
    private static List<Tensor> shaped(List<Tensor> maps, boolean views) {
        if (!views) return maps;
        List<Tensor> out = new ArrayList<>();
        for (int i = 0; i < maps.size(); i++) out.add(i % 2 == 1 ? maps.get(i).permute(0, 1, 3, 2) : maps.get(i));
        return out;
    }
}
