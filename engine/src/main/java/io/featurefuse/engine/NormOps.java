package io.featurefuse.engine;

/**
 * Batch, group and layer normalisation as PyTorch defines them, composed from primitive ops so
 * their gradients come from the primitives' (fused kernels are a later speed step and must
 * match these). Batch norm in training updates the running statistics in place, outside the graph.
 */
final class NormOps {
    private NormOps() {}

    /** Dims other than the channel dim 1: (0, 2, 3, ...). */
    private static int[] statDims(Tensor x) {
        int[] dims = new int[x.rank() - 1];
        dims[0] = 0;
        for (int i = 2; i < x.rank(); i++) dims[i - 1] = i;
        return dims;
    }

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
        String op = "batchNorm";
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
        int[] dims = statDims(x);
        int count = x.numel() / c;
        Tensor xhat;
        if (training) {
            if (count < 2) throw new IllegalArgumentException(op + ": training needs more than one value per channel, got input " + x.shape);
            Tensor mean = x.mean(true, dims);
            Tensor var = x.var(0, true, dims);
            xhat = x.sub(mean).div(var.add(eps).sqrt());
            if (runningMean != null) {
                try (var off = GradMode.off()) {
                    Tensor m = mean.reshape(c), v = var.reshape(c).mul((double) count / (count - 1));
                    runningMean.assign(runningMean.mul(1 - momentum).add(m.mul(momentum)));
                    runningVar.assign(runningVar.mul(1 - momentum).add(v.mul(momentum)));
                }
            }
        } else {
            xhat = x.sub(perChannel(runningMean, x)).div(perChannel(runningVar, x).add(eps).sqrt());
        }
        if (weight != null) xhat = xhat.mul(perChannel(weight, x));
        if (bias != null) xhat = xhat.add(perChannel(bias, x));
        return xhat;
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
