package io.featurefuse.cli;

import io.featurefuse.engine.ConvOptions;
import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.InterpolationMode;
import io.featurefuse.engine.PoolOptions;
import io.featurefuse.engine.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * The CNN op shapes that {@code fuse bench --only ops} times, the same list that
 * benchmarks/side-by-side.sh runs in PyTorch: each name, its work per call (FLOP or bytes) and
 * a call through the public Tensor API (the output's allocation included, as in PyTorch's eager calls).
 */
public final class OpBenchmarks {
    private OpBenchmarks() {}

    /** One timed call: name, unit, amount of work per call (in the unit's base, e.g. FLOP), and the call. */
    public record Case(String name, String unit, double work, Runnable call) {}

    /** Builds every case (allocates its inputs). */
    public static List<Case> cases() {
        List<Case> out = new ArrayList<>();
        conv(out, "conv3x3 64->64 14x14 b128", 128, 64, 64, 14, 3, 1, 1);
        conv(out, "conv3x3 32->32 28x28 b128", 128, 32, 32, 28, 3, 1, 1);
        conv(out, "conv1x1 160->128 14x14 b128", 128, 160, 128, 14, 1, 0, 1);
        conv(out, "conv5x5 1->32 28x28 b128", 128, 1, 32, 28, 5, 2, 1);
        conv(out, "depthwise3x3 64 14x14 b128", 128, 64, 64, 14, 3, 1, 64);
        SplittableRandom r = new SplittableRandom(7);
        // GB/s counts the tensors each pass must read and write once: batch norm's forward reads x and
        // writes y, its backward reads dy and x and writes dx; pooling and resizing read their input and
        // write their output (a quarter of the input for the pool, four times it for the resize), and
        // backward reads dOut and writes dIn. The side-by-side's PyTorch rows count the same bytes.
        Tensor bnx = Tensor.randn(r, 128, 64, 14, 14), gamma = Tensor.ones(64), beta = Tensor.zeros(64);
        Tensor rm = Tensor.zeros(64), rv = Tensor.ones(64);
        double bnBytes = 4.0 * bnx.numel();
        out.add(new Case("batchnorm train 64x14x14 b128 fwd", "GB/s", 2 * bnBytes,
                () -> noGrad(() -> bnx.batchNorm(rm, rv, gamma, beta, true, 0.1, 1e-5))));
        Tensor gammaG = gamma.detach().requiresGrad(true), betaG = beta.detach().requiresGrad(true);
        out.add(forwardBackward("batchnorm train 64x14x14 b128 fwd+bwd", "GB/s", 5 * bnBytes, bnx, Tensor.randn(r, 128, 64, 14, 14),
                x -> x.batchNorm(rm, rv, gammaG, betaG, true, 0.1, 1e-5), gammaG, betaG));
        Tensor px = Tensor.randn(r, 128, 32, 28, 28);
        double poolBytes = 4.0 * px.numel() * 1.25;
        out.add(new Case("maxpool2x2 32x28x28 b128 fwd", "GB/s", poolBytes, () -> noGrad(() -> px.maxPool2d(PoolOptions.of(2)))));
        out.add(forwardBackward("maxpool2x2 32x28x28 b128 fwd+bwd", "GB/s", 2 * poolBytes, px, Tensor.randn(r, 128, 32, 14, 14),
                x -> x.maxPool2d(PoolOptions.of(2))));
        Tensor rx = Tensor.randn(r, 128, 96, 7, 7);
        double resizeBytes = 4.0 * rx.numel() * 5;
        out.add(new Case("bilinear 96x7x7->14x14 b128 fwd", "GB/s", resizeBytes,
                () -> noGrad(() -> rx.interpolate(14, 14, InterpolationMode.BILINEAR, false))));
        out.add(forwardBackward("bilinear 96x7x7->14x14 b128 fwd+bwd", "GB/s", 2 * resizeBytes, rx, Tensor.randn(r, 128, 96, 14, 14),
                x -> x.interpolate(14, 14, InterpolationMode.BILINEAR, false)));
        return out;
    }

    /**
     * A forward and backward call of op on a copy of x that requires a gradient, with the gradient
     * up flowing back; params (weights that require a gradient) have theirs dropped before each
     * call. As inside a training step, the output and the input gradient go back to the buffer pool
     * once used (backwardAndRecycle does that with a model's intermediate results and gradients;
     * PyTorch's caching allocator reuses its blocks likewise). Dropped instead, each call paid two
     * fresh zeroed arrays (6.4 MB each for the depthwise layer, longer than its three kernels together).
     */
    private static Case forwardBackward(String name, String unit, double work, Tensor x, Tensor up, java.util.function.UnaryOperator<Tensor> op,
                                        Tensor... params) {
        Tensor xg = x.detach().requiresGrad(true);
        return new Case(name, unit, work, () -> {
            if (xg.grad() != null) xg.grad().recycle();
            xg.zeroGrad();
            for (Tensor p : params) p.zeroGrad();
            Tensor y = op.apply(xg);
            y.backward(up);
            y.recycle();
        });
    }

    /**
     * One forward call without autograd; its output goes back to the engine's buffer pool, as a
     * layer chain hands back its intermediate results in inference, so the next call's output
     * reuses it (PyTorch's caching allocator reuses its memory likewise). Dropped instead, each
     * call paid a fresh zeroed array: 12.8 MB for the 5x5 layer, about as long as the conv itself.
     */
    private static void noGrad(Supplier<Tensor> f) {
        try (var off = GradMode.off()) {
            f.get().recycle();
        }
    }

    private static void conv(List<Case> out, String name, int n, int c, int k, int hw, int ksize, int pad, int groups) {
        SplittableRandom r = new SplittableRandom(name.hashCode());
        Tensor x = Tensor.randn(r, n, c, hw, hw);
        Tensor w = Tensor.kaimingUniform(r, Math.sqrt(5), k, c / groups, ksize, ksize);
        ConvOptions o = ConvOptions.of(1, pad).withGroups(groups);
        double flops = 2.0 * n * k * hw * hw * (c / groups) * ksize * ksize;
        out.add(new Case(name + " fwd", "GFLOP/s", flops, () -> noGrad(() -> x.conv2d(w, null, o))));
        Tensor wg = w.detach().requiresGrad(true);
        out.add(forwardBackward(name + " fwd+bwd", "GFLOP/s", 3 * flops, x, Tensor.randn(r, n, k, hw, hw), xg -> xg.conv2d(wg, null, o), wg));
    }
}
