package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.featurefuse.engine.cpu.ConvGeom;
import java.util.SplittableRandom;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * conv2dBatchNorm, batchNorm(conv2d) (ReLU'd or not): the same bits as the two ops called one by
 * one, forward, running statistics and every gradient, on each kernel route. In training its
 * statistics are summed plane by plane inside the convolution's tasks (Conv2dKernels.Written), so a
 * route that told of a plane twice, or not at all, or too early, shows here.
 */
class ConvBatchNormTest {

    /** Random layers of every kind (strided, dilated, grouped, depthwise), in training and in eval, float32 and float64. */
    @Property(tries = 60)
    void anyLayerIsConvThenBatchNorm(@ForAll long seed) {
        Conv2dTest.Case c = Conv2dTest.Case.random(seed, new SplittableRandom(seed).nextBoolean() ? 24 : 7, 12);
        Shape out = c.x(seed).conv2d(c.weight(seed), null, c.o()).shape();
        Assume.that((long) out.dim(0) * out.dim(2) * out.dim(3) >= 2); // batch statistics need two values a channel
        SplittableRandom r = new SplittableRandom(seed + 9);
        boolean training = r.nextInt(4) > 0, relu = r.nextBoolean(), pool = relu && r.nextBoolean();
        for (DType dtype : DType.values())
            assertSameAsComposition(c + " " + dtype + (training ? " training" : " eval") + (pool ? " relu pool" : relu ? " relu" : ""), c.x(seed).to(dtype),
                    c.weight(seed).to(dtype), c.biasTensor(seed) == null ? null : c.biasTensor(seed).to(dtype), c.o(), training, relu, pool, seed);
    }

    /**
     * The Winograd routes, F(2x2) and F(4x4), whose tasks hold several images each; at batch sizes that leave the last
     * task short, and at sizes whose planes end in a partial vector block.
     */
    @Property(tries = 30)
    void winogradLayers(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        boolean f4 = r.nextBoolean();
        ConvGeom g = Fixtures.winogradLayer(r, f4, 9);
        int pad = g.ph(), n = g.n(), cin = g.c(), k = g.k(), h = g.h(), w = g.w();
        ConvOptions o = new ConvOptions(1, 1, pad, pad, 1, 1, 1);
        Tensor x = Fixtures.values(seed, -1, 1, n, cin, h, w).to(DType.F32), wt = Fixtures.values(seed + 1, -0.2, 0.2, k, cin, 3, 3).to(DType.F32);
        Tensor b = r.nextBoolean() ? Fixtures.values(seed + 2, -1, 1, k).to(DType.F32) : null;
        boolean relu = r.nextBoolean();
        assertSameAsComposition((f4 ? "F(4x4) " : "F(2x2) ") + x.shape() + " pad " + pad, x, wt, b, o, true, relu, relu && r.nextBoolean(), seed);
    }

    /** The reference workload's layer kinds at a batch of 5 (more images than threads): 1x1, 5x5, 3x3 stride 2, grouped. */
    @Test
    void referenceLayerKinds() {
        int[][] layers = {{160, 16, 1, 1, 0, 1, 7}, {1, 32, 5, 1, 2, 1, 28}, {32, 24, 3, 2, 1, 1, 28}, {12, 18, 3, 1, 1, 3, 9}, {8, 8, 3, 1, 1, 8, 10}};
        long seed = 40;
        for (int[] l : layers) {
            int cin = l[0], k = l[1], ks = l[2], stride = l[3], pad = l[4], groups = l[5], side = l[6];
            ConvOptions o = new ConvOptions(stride, stride, pad, pad, 1, 1, groups);
            Tensor x = Fixtures.values(seed, -1, 1, 5, cin, side, side).to(DType.F32);
            Tensor w = Fixtures.values(seed + 1, -0.3, 0.3, k, cin / groups, ks, ks).to(DType.F32);
            for (int kind = 0; kind < 3; kind++)
                assertSameAsComposition(cin + "->" + k + " " + ks + "x" + ks + "/" + stride + " groups " + groups + " kind " + kind, x, w, null, o, true,
                        kind > 0, kind == 2, seed++);
        }
    }

    @Test
    void badParametersAreTheBatchNormsClearErrors() {
        Tensor x = Tensor.zeros(2, 3, 5, 5), w = Tensor.zeros(4, 3, 3, 3);
        ConvOptions o = ConvOptions.of(1, 1);
        assertEquals("batchNorm: weight [3] does not match 4 channels", assertThrows(IllegalArgumentException.class,
                () -> Fused.conv2dBatchNorm(x, w, null, o, Tensor.zeros(4), Tensor.ones(4), Tensor.ones(3), null, true, 0.1, 1e-5, false)).getMessage());
        assertEquals("conv2d: input [2, 2, 5, 5] has 2 channels but weight [4, 3, 3, 3] expects 3 (groups 1)", assertThrows(IllegalArgumentException.class,
                () -> Fused.conv2dBatchNorm(Tensor.zeros(2, 2, 5, 5), w, null, o, null, null, null, null, true, 0.1, 1e-5, true)).getMessage());
    }

    /**
     * Fused and composed, both recording: the output, the running statistics after, and the gradients of x, the
     * conv's weight and bias and the BN's weight and bias, compared to the bit. pool (with relu): conv2dBatchNormReluMaxPool2d
     * (2x2, where the output halves, two seeds of three) or conv2dBatchNormReluPool against the pool of the composition.
     */
    private static void assertSameAsComposition(String what, Tensor x, Tensor w, Tensor b, ConvOptions o, boolean training, boolean relu,
                                                boolean pool, long seed) {
        int k = w.shape().dim(0);
        SplittableRandom r = new SplittableRandom(seed + 7);
        Tensor gamma = Tensor.uniform(r, 0.5, 2, k).to(x.dtype()), beta = Tensor.uniform(r, -0.5, 0.5, k).to(x.dtype());
        Tensor mean = Tensor.uniform(r, -0.5, 0.5, k).to(x.dtype()), var = Tensor.uniform(r, 0.5, 2, k).to(x.dtype());
        Tensor[] fusedIn = copies(x, w, b, gamma, beta), plainIn = copies(x, w, b, gamma, beta);
        Tensor fm = mean.copy(), fv = var.copy(), pm = mean.copy(), pv = var.copy();
        Tensor conv = plainIn[0].conv2d(plainIn[1], plainIn[2], o);
        // pooled: a 2x2 max pool where the output halves, else a global average pool
        PoolOptions max = pool && conv.size(2) % 2 == 0 && conv.size(3) % 2 == 0 && seed % 3 != 0 ? PoolOptions.of(2) : null;
        BatchNormSpec spec = new BatchNormSpec(fm, fv, fusedIn[3], fusedIn[4], training, 0.1, 1e-5);
        Tensor fused = !pool ? Fused.conv2dBatchNorm(fusedIn[0], fusedIn[1], fusedIn[2], o, fm, fv, fusedIn[3], fusedIn[4], training, 0.1, 1e-5, relu)
                : max != null ? Fused.conv2dBatchNormReluMaxPool2d(fusedIn[0], fusedIn[1], fusedIn[2], o, spec, max)
                : Fused.conv2dBatchNormReluPool(fusedIn[0], fusedIn[1], fusedIn[2], o, spec);
        Tensor plain = relu ? Fused.batchNormRelu(conv, pm, pv, plainIn[3], plainIn[4], training, 0.1, 1e-5)
                : conv.batchNorm(pm, pv, plainIn[3], plainIn[4], training, 0.1, 1e-5);
        if (pool) plain = max != null ? plain.maxPool2d(max) : plain.adaptiveAvgPool2d(1, 1);
        what += max != null ? " max pool" : "";
        assertArrayEquals(plain.toArray(), fused.toArray(), 0.0, what);
        assertArrayEquals(pm.toArray(), fm.toArray(), 0.0, what + " running mean");
        assertArrayEquals(pv.toArray(), fv.toArray(), 0.0, what + " running var");
        Tensor up = Fixtures.values(seed + 3, -1, 1, plain.shape().toArray()).to(x.dtype());
        fused.backward(up);
        plain.backward(up);
        String[] names = {"x", "weight", "bias", "bn weight", "bn bias"};
        for (int i = 0; i < names.length; i++)
            if (plainIn[i] != null) assertArrayEquals(plainIn[i].grad().toArray(), fusedIn[i].grad().toArray(), 0.0, what + " d/d" + names[i]);
    }

    private static Tensor[] copies(Tensor... ts) {
        Tensor[] out = new Tensor[ts.length];
        for (int i = 0; i < ts.length; i++) out[i] = ts[i] == null ? null : ts[i].copy().requiresGrad(true);
        return out;
    }
}
