package io.featurefuse.engine;

import io.featurefuse.engine.cpu.BatchNormKernels;
import io.featurefuse.engine.cpu.Conv2dKernels;

/**
 * Batch, group and layer normalisation as PyTorch defines them. Batch norm is one fused op
 * ({@link BatchNormKernels}: statistics, one multiply-add per element, a closed-form backward);
 * in training it updates the running statistics in place, outside the graph. Group and layer
 * norm are compositions of primitive ops, so their gradients come from the primitives'.
 */
final class NormOps {
    private NormOps() {}

    /** A per-channel [C] tensor shaped [C, 1, ...] to broadcast over x's dims after 1. */
    private static Tensor perChannel(Tensor p, Tensor x) {
        int[] s = new int[x.rank() - 1];
        java.util.Arrays.fill(s, 1);
        s[0] = x.shape.dim(1);
        return p.reshape(s);
    }

    private static void checkChannels(String op, Tensor p, String name, int channels) {
        if (p != null && (p.rank() != 1 || p.shape.dim(0) != channels))
            throw new IllegalArgumentException(op + ": " + name + " " + p.shape + " does not match " + channels + " channels");
    }

    static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                            boolean training, double momentum, double eps) {
        return batchNorm(x, runningMean, runningVar, weight, bias, training, momentum, eps, false);
    }

    /**
     * relu(batchNorm(x)) with the clamp in the normalisation's one pass: one activation buffer and
     * one pass fewer than the two ops. Saves the affine's scale and shift, from which backward
     * recomputes the ReLU's mask.
     */
    static Tensor batchNormRelu(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                boolean training, double momentum, double eps) {
        return batchNorm(x, runningMean, runningVar, weight, bias, training, momentum, eps, true);
    }

    private static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                    boolean training, double momentum, double eps, boolean relu) {
        return batchNorm(x, runningMean, runningVar, weight, bias, training, momentum, eps, relu, null);
    }

    /**
     * Batch statistics gathered per plane by x's producer while it wrote them (see
     * BatchNormKernels.planeStatistics): sums[t] and deviations[t] for plane t = image * C + channel.
     */
    record PlaneStatistics(double[] sums, double[] deviations) {}

    /**
     * relu?(batchNorm(x)); in training with planes given (x float32 and dense), the statistics come from
     * them instead of a pass over x: the same values to the bit.
     */
    static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                            boolean training, double momentum, double eps, boolean relu, PlaneStatistics planes) {
        Normalisation z = normalisation(relu ? "batchNormRelu" : "batchNorm", x, new BatchNormSpec(runningMean, runningVar, weight, bias, training,
                momentum, eps), planes);
        Tensor out = Tensor.emptyToOverwrite(x.shape, x.dtype), xd = z.xd();
        if (x.dtype == DType.F32) BatchNormKernels.affine(out.f(), xd.f(), xd.offset, z.n(), z.c(), z.spatial(), z.mean(), z.scale(), z.shift(), relu);
        else BatchNormKernels.affine(out.d(), xd.d(), xd.offset, z.n(), z.c(), z.spatial(), z.mean(), z.scale(), z.shift(), relu);
        return Tensor.record(out, relu ? new Node.BatchNormRelu(z.node(), z.relu()) : z.node());
    }

    /**
     * One batch norm worked out: y = (x - mean[ch]) scale[ch] + shift[ch] over x's n c planes of spatial
     * values (xd: x dense), and the node its backward reads.
     */
    record Normalisation(Tensor xd, int n, int c, int spatial, double[] mean, double[] scale, double[] shift, Node.BatchNorm node) {
        /** The affine as a fused ReLU's backward recomputes its mask from. */
        BatchNormKernels.ReluOf relu() {
            return new BatchNormKernels.ReluOf(scale, shift);
        }
    }

    /**
     * Checks x and bn's tensors (op names the caller in the messages) and works out the normalisation:
     * batch statistics while training (from planes when given), which also move the running ones, in
     * place; the running statistics in evaluation.
     */
    static Normalisation normalisation(String op, Tensor x, BatchNormSpec bn, PlaneStatistics planes) {
        Tensor runningMean = bn.runningMean(), runningVar = bn.runningVar(), weight = bn.weight(), bias = bn.bias();
        boolean training = bn.training();
        double momentum = bn.momentum(), eps = bn.eps();
        if (x.rank() < 2) throw new IllegalArgumentException(op + ": input must be [N, C, ...], not " + x.shape);
        int c = x.shape.dim(1);
        checkChannels(op, runningMean, "running mean", c);
        checkChannels(op, runningVar, "running var", c);
        checkChannels(op, weight, "weight", c);
        checkChannels(op, bias, "bias", c);
        if ((runningMean == null) != (runningVar == null))
            throw new IllegalArgumentException(op + ": give both running mean and running var, or neither");
        if (!training && runningMean == null)
            throw new IllegalArgumentException(op + ": evaluation needs running statistics");
        int n = x.shape.dim(0), spatial = c == 0 || n == 0 ? 0 : x.numel() / (n * c);
        int count = n * spatial;
        if (x.numel() == 0) throw new IllegalArgumentException(op + ": input " + x.shape + " is empty");
        Tensor xd = x.dense();
        double[] mean = new double[c], var = new double[c];
        if (training) {
            if (count < 2) throw new IllegalArgumentException(op + ": training needs more than one value per channel, got input " + x.shape);
            if (planes != null) BatchNormKernels.statisticsOfPlanes(planes.sums(), planes.deviations(), n, c, spatial, mean, var);
            else if (x.dtype == DType.F32) BatchNormKernels.statistics(xd.f(), xd.offset, n, c, spatial, mean, var);
            else BatchNormKernels.statistics(xd.d(), xd.offset, n, c, spatial, mean, var);
        } else {
            mean = runningMean.toArray();
            var = runningVar.toArray();
        }
        double[] gamma = weight == null ? null : weight.toArray(), beta = bias == null ? null : bias.toArray();
        double[] invstd = new double[c], scale = new double[c], betas = new double[c];
        for (int ch = 0; ch < c; ch++) {
            invstd[ch] = 1 / Math.sqrt(var[ch] + eps);
            scale[ch] = invstd[ch] * (gamma == null ? 1 : gamma[ch]);
            betas[ch] = beta == null ? 0 : beta[ch];
        }
        if (training && runningMean != null) {
            double[] rm = runningMean.toArray(), rv = runningVar.toArray();
            for (int ch = 0; ch < c; ch++) {
                rm[ch] = (1 - momentum) * rm[ch] + momentum * mean[ch];
                rv[ch] = (1 - momentum) * rv[ch] + momentum * var[ch] * count / (count - 1); // unbiased, as PyTorch
            }
            try (var off = GradMode.off()) {
                runningMean.assign(Tensor.of(rm, c).to(runningMean.dtype));
                runningVar.assign(Tensor.of(rv, c).to(runningVar.dtype));
            }
        }
        return new Normalisation(xd, n, c, spatial, mean, scale, betas, new Node.BatchNorm(x, weight, bias, mean, invstd, training));
    }

    /**
     * The ReLU's mask applied inside batch norm's two passes over the gradient rather than as a
     * masked copy of it first (one more tensor written and read twice): 64x14x14 b128
     * batchNormRelu fwd+bwd, jars alternating 3 times, ~3.2-6.5 -> ~2.7-5.7 ms; with a plain
     * backward (nothing recycled) GC pauses in 6 s 34 -> 2. The mask is recomputed from x, not
     * read from the saved output (see BatchNormKernels.ReluOf).
     */
    static Tensor[] batchNormReluBackward(Node.BatchNormRelu n, Tensor g) {
        return batchNormBackward(n.bn(), g, n.relu(), null, null);
    }

    static Tensor[] batchNormBackward(Node.BatchNorm node, Tensor g) {
        return batchNormBackward(node, g, null, null, null);
    }

    /**
     * Where a batch norm's input gradient goes when it is not made here: the conv that made x makes it chunk by
     * chunk of images as its own backward reads it (Conv2dKernels.backwardOfChunks), so it is never written to memory
     * and read back twice (for the reference model's 32x28x28 maps, 12.8 MB a layer). Set by the norms' backward:
     * dx for the norm's input, shortcutDx for a residual's shortcut norm (BatchNormAddRelu), and held, a gradient
     * those read that must stay as it is until they have run (or null).
     */
    static final class Deferral {
        Conv2dKernels.OutputGradient dx, shortcutDx;
        Tensor held;
    }

    /** Input gradients deferred so far (tests). */
    static final java.util.concurrent.atomic.AtomicLong DEFERRED = new java.util.concurrent.atomic.AtomicLong();

    /** The tensors whose gradients node's backward can defer, in Deferral's order (its norm's input, a shortcut norm's), or null for other nodes. */
    static Tensor[] normInputs(Node node) {
        return switch (node) {
            case Node.BatchNorm n -> new Tensor[] {n.x(), null};
            case Node.BatchNormRelu n -> new Tensor[] {n.bn().x(), null};
            case Node.BatchNormReluPool n -> new Tensor[] {n.bn().x(), null};
            case Node.BatchNormAddRelu n -> new Tensor[] {n.bn().x(), n.shortcutBn() == null ? null : n.shortcutBn().x()};
            default -> null;
        };
    }

    /**
     * Which of normInputs(node) node's backward, with incoming gradient g, defers (null: none): float32, g dense, the input
     * made by a conv whose backward runs chunk by chunk, and read by nothing else (alone).
     */
    static boolean[] deferrable(Node node, Tensor g, java.util.function.Predicate<Tensor> alone) {
        Tensor[] xs = normInputs(node);
        if (xs == null || g.dtype != DType.F32 || !g.isContiguous()) return null;
        boolean[] sides = new boolean[2];
        for (int i = 0; i < 2; i++) sides[i] = xs[i] != null && madeByChunkedConv(xs[i]) && alone.test(xs[i]);
        return sides[0] || sides[1] ? sides : null;
    }

    private static boolean madeByChunkedConv(Tensor x) {
        if (x.dtype != DType.F32 || !x.requiresGrad() || x.gradFn == null || !x.isContiguous()) return false;
        return switch (x.gradFn.node()) {
            case Node.Conv2d c -> ConvOps.takesChunks(c);
            case Node.Conv2dOfConcat c -> ConcatConvOps.takesChunks(c);
            default -> false;
        };
    }

    /**
     * node's gradients, with those of the inputs sides picks (see deferrable) left null: into makes them, image by image, later.
     * With presummed (or null), a plain norm or one with ReLU takes its gradient sums' terms from there (see presums).
     */
    static Tensor[] deferredBackward(Node node, Tensor g, Deferral into, boolean[] sides, PlaneGradientSums presummed) {
        DEFERRED.incrementAndGet();
        return switch (node) {
            case Node.BatchNorm n -> batchNormBackward(n, g, null, null, into, presummed);
            case Node.BatchNormRelu n -> batchNormBackward(n.bn(), g, n.relu(), null, into, presummed);
            case Node.BatchNormReluPool n -> PooledNormOps.backward(n, g, into);
            case Node.BatchNormAddRelu n -> ResidualOps.backward(n, g, into, sides[0], sides[1]);
            default -> throw new IllegalArgumentException("batch norm backward: " + node.opName() + " does not defer its input gradient");
        };
    }

    /**
     * Gradients of batchNorm for x, weight and bias (those present), from per-channel sums; g counts only where the
     * fused ReLU's input was above 0 when relu is given. With spread (float32), g is the gradient of a pool of the
     * output, which spread hands each plane as the pool's backward would (see PooledNormOps). With into (float32, g
     * dense), x's gradient is not made: into.dx makes any images of it, as long as g and x live.
     */
    static Tensor[] batchNormBackward(Node.BatchNorm node, Tensor g, BatchNormKernels.ReluOf relu, BatchNormKernels.PlaneSpread spread,
                                      Deferral into) {
        return batchNormBackward(node, g, relu, spread, into, null);
    }

    /**
     * The per-plane terms of a norm's gradient sums (BatchNormKernels.gradientSumsOfImages), made by the conv after the
     * norm as it made its input gradient, chunk by chunk: the norm's backward then sums them, and reads its incoming
     * gradient once less.
     */
    record PlaneGradientSums(double[] sums, double[] dots) {}

    /** The norm of a plain batch norm node or one with ReLU, else null: those whose gradient sums can come from the conv after them. */
    private static Node.BatchNorm presummable(Node node) {
        return switch (node) {
            case Node.BatchNorm n -> n;
            case Node.BatchNormRelu n -> n.bn();
            default -> null;
        };
    }

    /**
     * True when node's backward, given a dense float32 gradient made whole by one conv after it (its output's one reader),
     * will defer its input gradient (deferrable) and can take its sums' terms from that conv (presummable).
     */
    static boolean presums(Node node, java.util.function.Predicate<Tensor> alone) {
        Node.BatchNorm bn = presummable(node);
        return bn != null && madeByChunkedConv(bn.x()) && alone.test(bn.x());
    }

    /** Norms whose gradient sums' terms the conv after them made so far (tests). */
    static final java.util.concurrent.atomic.AtomicLong PRESUMMED = new java.util.concurrent.atomic.AtomicLong();

    /** What the conv making node's incoming gradient g (dense, float32) tells as its images are made: their sums' terms into into. */
    static Conv2dKernels.InputGradientMade gradientSums(Node node, Tensor g, PlaneGradientSums into) {
        PRESUMMED.incrementAndGet();
        Node.BatchNorm bn = presummable(node);
        Tensor x = bn.x();
        if (g.dtype != DType.F32 || !g.isContiguous() || !g.shape.equals(x.shape) || !x.isContiguous())
            throw new IllegalArgumentException("batch norm backward: sums are made ahead only from a dense float32 gradient of the input's shape");
        int c = x.shape.dim(1), spatial = x.numel() / (x.shape.dim(0) * c);
        BatchNormKernels.ReluOf relu = node instanceof Node.BatchNormRelu r ? r.relu() : null;
        float[] dy = g.f(), xf = x.f();
        int dyOff = g.offset, xOff = x.offset;
        double[] mean = bn.mean();
        return (n0, n1) -> BatchNormKernels.gradientSumsOfImages(dy, dyOff, relu, xf, xOff, n0, n1, c, spatial, mean, into.sums(), into.dots());
    }

    /** batchNormBackward, the sums' terms from presummed where given (see PlaneGradientSums). */
    private static Tensor[] batchNormBackward(Node.BatchNorm node, Tensor g, BatchNormKernels.ReluOf relu, BatchNormKernels.PlaneSpread spread,
                                              Deferral into, PlaneGradientSums presummed) {
        Tensor x = node.x(), xd = x.dense(), gd = spread == null ? g.dense() : null;
        boolean pooled = spread != null;
        int n = x.shape.dim(0), c = x.shape.dim(1), spatial = x.numel() / (n * c);
        double[] mean = node.mean();
        double[] sums = new double[c], dots = new double[c];
        if (presummed != null) BatchNormKernels.gradientSumsOfPlanes(presummed.sums(), presummed.dots(), n, c, sums, dots);
        else if (pooled) BatchNormKernels.pooledGradientSums(spread, relu, xd.f(), xd.offset, n, c, spatial, mean, sums, dots);
        else if (x.dtype == DType.F32)
            BatchNormKernels.gradientSums(gd.f(), gd.offset, relu, xd.f(), xd.offset, n, c, spatial, mean, sums, dots);
        else BatchNormKernels.gradientSums(gd.d(), gd.offset, relu, xd.d(), xd.offset, n, c, spatial, mean, sums, dots);
        Backward k = backward(node, sums, dots);
        Tensor gx = null;
        if (into != null) {
            if (x.dtype != DType.F32 || gd != null && gd != g || xd != x)
                throw new IllegalArgumentException("batch norm backward: only a float32 input and a dense gradient defer, not " + x.dtype);
            float[] dy = pooled ? null : gd.f(), xf = x.f();
            int dyOff = pooled ? 0 : gd.offset;
            into.dx = (n0, n1, dst) -> BatchNormKernels.inputGradientOfImages(dst, dy, dyOff, spread, relu, xf, x.offset, n0, n1, c, spatial, mean,
                    k.p(), k.q(), k.r());
        } else if (x.requiresGrad()) {
            gx = Tensor.emptyToOverwrite(x.shape, x.dtype);
            if (pooled) BatchNormKernels.pooledInputGradient(gx.f(), spread, relu, xd.f(), xd.offset, n, c, spatial, mean, k.p(), k.q(), k.r());
            else if (x.dtype == DType.F32)
                BatchNormKernels.inputGradient(gx.f(), gd.f(), gd.offset, relu, xd.f(), xd.offset, n, c, spatial, mean, k.p(), k.q(), k.r());
            else BatchNormKernels.inputGradient(gx.d(), gd.d(), gd.offset, relu, xd.d(), xd.offset, n, c, spatial, mean, k.p(), k.q(), k.r());
        }
        if (gd != null) gd.recycleIfCopyOf(g);
        return k.grads(node, gx);
    }

    /**
     * BN's backward per channel from its two sums over the gradient dy arriving at its output,
     * sums = sum dy and dots = sum dy (x - mean): dgamma, and dx = dy p + x q + r.
     */
    record Backward(double[] sums, double[] dgamma, double[] p, double[] q, double[] r) {
        /** The gradients of node's inputs, in its order: gx, then dgamma and dbeta where the norm has weight and bias. */
        Tensor[] grads(Node.BatchNorm node, Tensor gx) {
            java.util.List<Tensor> grads = new java.util.ArrayList<>();
            grads.add(gx);
            if (node.weight() != null) grads.add(Tensor.of(dgamma, dgamma.length).to(node.weight().dtype));
            if (node.bias() != null) grads.add(Tensor.of(sums, sums.length).to(node.bias().dtype));
            return grads.toArray(new Tensor[0]);
        }
    }

    static Backward backward(Node.BatchNorm node, double[] sums, double[] dots) {
        Tensor x = node.x();
        int n = x.shape.dim(0), c = x.shape.dim(1), spatial = x.numel() / (n * c);
        double count = (double) n * spatial;
        double[] mean = node.mean(), invstd = node.invstd();
        double[] gamma = node.weight() == null ? null : node.weight().toArray();
        double[] dgamma = new double[c], p = new double[c], q = new double[c], r = new double[c];
        for (int ch = 0; ch < c; ch++) {
            dgamma[ch] = dots[ch] * invstd[ch];
            double gi = (gamma == null ? 1 : gamma[ch]) * invstd[ch];
            p[ch] = gi;
            if (node.training()) {
                // dx = gi / M (M dy - sum dy - xhat dgamma), xhat = (x - mean) invstd
                q[ch] = -gi / count * invstd[ch] * dgamma[ch];
                r[ch] = gi / count * (-sums[ch] + mean[ch] * invstd[ch] * dgamma[ch]);
            }
        }
        return new Backward(sums, dgamma, p, q, r);
    }

    static Tensor groupNorm(Tensor x, int groups, Tensor weight, Tensor bias, double eps) {
        String op = "groupNorm";
        if (x.rank() < 2) throw new IllegalArgumentException(op + ": input must be [N, C, ...], not " + x.shape);
        int n = x.shape.dim(0), c = x.shape.dim(1);
        if (groups < 1 || c % groups != 0)
            throw new IllegalArgumentException(op + ": " + c + " channels do not divide into " + groups + " groups");
        checkChannels(op, weight, "weight", c);
        checkChannels(op, bias, "bias", c);
        Tensor g = x.reshape(n, groups, -1);
        Tensor xhat = g.sub(g.mean(true, 2)).div(g.var(0, true, 2).add(eps).sqrt()).reshape(x.shape.toArray());
        if (weight != null) xhat = xhat.mul(perChannel(weight, x));
        if (bias != null) xhat = xhat.add(perChannel(bias, x));
        return xhat;
    }

    static Tensor layerNorm(Tensor x, int[] normalizedShape, Tensor weight, Tensor bias, double eps) {
        String op = "layerNorm";
        int k = normalizedShape.length;
        boolean ok = k >= 1 && k <= x.rank();
        for (int i = 0; ok && i < k; i++) ok = x.shape.dim(x.rank() - k + i) == normalizedShape[i];
        if (!ok)
            throw new IllegalArgumentException(op + ": normalized shape " + java.util.Arrays.toString(normalizedShape)
                    + " is not the trailing shape of input " + x.shape);
        Shape ns = Shape.of(normalizedShape);
        if (weight != null && !weight.shape.equals(ns)) throw new IllegalArgumentException(op + ": weight " + weight.shape + " is not " + ns);
        if (bias != null && !bias.shape.equals(ns)) throw new IllegalArgumentException(op + ": bias " + bias.shape + " is not " + ns);
        int[] dims = new int[k];
        for (int i = 0; i < k; i++) dims[i] = x.rank() - k + i;
        Tensor xhat = x.sub(x.mean(true, dims)).div(x.var(0, true, dims).add(eps).sqrt());
        if (weight != null) xhat = xhat.mul(weight);
        if (bias != null) xhat = xhat.add(bias);
        return xhat;
    }
}
