package io.featurefuse.engine;

/**
 * The fused ops of CNN blocks, each the plain Tensor ops it joins (conv2d, batchNorm, relu, addRelu,
 * adaptiveAvgPool2d) in fewer passes over memory: the same values to the bit, the same gradients
 * and running statistics, and in graphs they record as few nodes as their passes need. Kept apart
 * from Tensor, which holds the ops themselves.
 */
public final class Fused {
    private Fused() {}

    /** relu(x.conv2d(...)) with the clamp fused into the convolution's output pass (conv + folded BN + ReLU for inference). */
    public static Tensor conv2dRelu(Tensor x, Tensor weight, Tensor bias, ConvOptions options) { return ConvOps.conv2dRelu(x, weight, bias, options); }

    /** relu(x.conv2d(weight, bias, options) + residual), residual of the output's shape, in one pass over the output where the kernels allow: a residual block's end. */
    public static Tensor conv2dAddRelu(Tensor x, Tensor weight, Tensor bias, Tensor residual, ConvOptions options) {
        return ConvOps.conv2dAddRelu(x, weight, bias, residual, options);
    }

    /**
     * x.conv2d(weight, bias, options).batchNorm(runningMean, runningVar, bnWeight, bnBias, training, momentum, eps), relu'd
     * when relu is true: a CNN block's conv, BN (and ReLU) recorded as the same ops as when called one by one, with the
     * same values to the bit. In training the batch statistics are gathered in the convolution's own pass over its
     * output (float32), not in a pass of their own.
     */
    public static Tensor conv2dBatchNorm(Tensor x, Tensor weight, Tensor bias, ConvOptions options, Tensor runningMean, Tensor runningVar, Tensor bnWeight,
                                         Tensor bnBias, boolean training, double momentum, double eps, boolean relu) {
        return ConvOps.conv2dBatchNorm(x, weight, bias, options, runningMean, runningVar, bnWeight, bnBias, training, momentum, eps, relu);
    }

    /**
     * A ResNet basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut), the shortcut x, or
     * shortcutBn(shortcutConv(x)) where shortcutConv is given (else both null). Recorded as the ops it is made of
     * (conv2dBatchNorm with relu, then conv2dBatchNormAddRelu), with the same values, gradients and running statistics
     * to the bit. In float32, where conv2 runs by Winograd with an image chunk for every thread, bn1's output is written
     * chunk by chunk just before conv2 reads it, from cache.
     */
    public static Tensor basicBlock(Tensor x, ConvSpec conv1, BatchNormSpec bn1, ConvSpec conv2, BatchNormSpec bn2, ConvSpec shortcutConv,
                                    BatchNormSpec shortcutBn) {
        return BlockOps.basicBlock(x, null, null, conv1, bn1, conv2, bn2, shortcutConv, shortcutBn);
    }

    /**
     * basicBlock of relu(stemBn(stem(x))): a conv, its norm and ReLU, then the block, recorded as conv2dBatchNorm (relu)
     * and basicBlock, the same bits. Where conv1 runs by chunks (as conv2 in basicBlock), stemBn's output is written
     * chunk by chunk just before conv1 reads it. ResNet's stem and first block.
     */
    public static Tensor basicBlock(Tensor x, ConvSpec stem, BatchNormSpec stemBn, ConvSpec conv1, BatchNormSpec bn1, ConvSpec conv2, BatchNormSpec bn2,
                                    ConvSpec shortcutConv, BatchNormSpec shortcutBn) {
        return BlockOps.basicBlock(x, java.util.Objects.requireNonNull(stem, "stem"), stemBn, conv1, bn1, conv2, bn2, shortcutConv, shortcutBn);
    }

    /**
     * x.batchNorm(bn) (with bn's tensors, mode, momentum and eps) then relu() and adaptiveAvgPool2d(1, 1), on
     * x [N, C, H, W], as one op: [N, C, 1, 1], the same values to the bit, one pass over x forward and two
     * backward, and no map of x's size written either way. A CNN's classifier head.
     */
    public static Tensor batchNormReluPool(Tensor x, BatchNormSpec bn) {
        return PooledNormOps.batchNormReluPool(x, bn, null, null);
    }

    /** batchNormReluPool with a max pool: x.batchNorm(bn), relu(), maxPool2d(pool) as one op, to the bit. A VGG stage's end. */
    public static Tensor batchNormReluMaxPool2d(Tensor x, BatchNormSpec bn, PoolOptions pool) {
        return PooledNormOps.batchNormReluPool(x, bn, null, java.util.Objects.requireNonNull(pool, "pool"));
    }

    /**
     * x.conv2d(weight, bias, options) then batchNormReluPool(bn): recorded as a conv2d and the pooled op, the same
     * values to the bit; in training the batch statistics are gathered in the convolution's pass over its output.
     */
    public static Tensor conv2dBatchNormReluPool(Tensor x, Tensor weight, Tensor bias, ConvOptions options, BatchNormSpec bn) {
        return ConvOps.conv2dBatchNormReluPool(x, weight, bias, options, bn, null);
    }

    /**
     * Tensor.concat(maps, 1).conv2d(weight, bias, options): a 1x1 layer (stride 1, unpadded, one group) in float32
     * reads the maps where they lie, and each map gets its gradient of its own, so neither the joined map nor its
     * gradient is made; other layers run as that composition. The same values to the bit. Concat fusion's conv.
     */
    public static Tensor conv2dOfConcat(java.util.List<Tensor> maps, Tensor weight, Tensor bias, ConvOptions options) {
        return ConcatConvOps.conv2d(maps, weight, bias, options, null);
    }

    /** conv2dOfConcat(maps, weight, bias, options) then batchNormReluPool(bn), the batch statistics gathered in the conv's pass in training. */
    public static Tensor conv2dOfConcatBatchNormReluPool(java.util.List<Tensor> maps, Tensor weight, Tensor bias, ConvOptions options, BatchNormSpec bn) {
        NormOps.PlaneStatistics stats = ConcatConvOps.statisticsRoom(maps, weight, options, bn.training());
        return PooledNormOps.batchNormReluPool(ConcatConvOps.conv2d(maps, weight, bias, options, stats), bn, stats, null);
    }

    /**
     * Tensor.concat(each map interpolated to to's size (to's mode and corner rule) where it is not that size, 1)
     * .conv2d(weight, bias, options). A float32 1x1 layer (stride 1, unpadded, one group) reads a smaller map as it
     * lies and runs at its size, its output resized and added (a resize commutes with a 1x1 conv): for 96 channels at
     * 7x7 beside 64 at 14x14, a quarter of that map's multiply-adds, and no resized map or its gradient made. Values
     * then differ from the composition's in their last bits (the sums run in another order); the rest runs as
     * that composition.
     */
    public static Tensor conv2dOfResizedConcat(java.util.List<Tensor> maps, ResizeSpec to, Tensor weight, Tensor bias, ConvOptions options) {
        return ConcatConvOps.conv2d(maps, java.util.Objects.requireNonNull(to, "to"), weight, bias, options, null);
    }

    /**
     * relu(conv2dOfResizedConcat(maps, to, weight, bias, options)); without recording, where a smaller map is read as it
     * lies, the clamp runs in the conv's output pass (concat fusion's inference, BN folded into weight and bias).
     */
    public static Tensor conv2dOfResizedConcatRelu(java.util.List<Tensor> maps, ResizeSpec to, Tensor weight, Tensor bias, ConvOptions options) {
        return ConcatConvOps.conv2dRelu(maps, java.util.Objects.requireNonNull(to, "to"), weight, bias, options);
    }

    /** conv2dOfResizedConcat(maps, to, weight, bias, options) then batchNormReluPool(bn), the batch statistics gathered in the conv's pass in training. */
    public static Tensor conv2dOfResizedConcatBatchNormReluPool(java.util.List<Tensor> maps, ResizeSpec to, Tensor weight, Tensor bias, ConvOptions options,
                                                                BatchNormSpec bn) {
        NormOps.PlaneStatistics stats = ConcatConvOps.statisticsRoom(maps, java.util.Objects.requireNonNull(to, "to"), weight, options, bn.training());
        return PooledNormOps.batchNormReluPool(ConcatConvOps.conv2d(maps, to, weight, bias, options, stats), bn, stats, null);
    }

    /** x.conv2d(weight, bias, options) then batchNormReluMaxPool2d(bn, pool); see conv2dBatchNormReluPool. */
    public static Tensor conv2dBatchNormReluMaxPool2d(Tensor x, Tensor weight, Tensor bias, ConvOptions options, BatchNormSpec bn, PoolOptions pool) {
        return ConvOps.conv2dBatchNormReluPool(x, weight, bias, options, bn, java.util.Objects.requireNonNull(pool, "pool"));
    }

    /**
     * relu(x.batchNorm(bn) + shortcut) as one op, the end of a residual block with an identity shortcut: the same
     * values, running statistics and gradients as batchNorm then addRelu, to the bit, without the normalised map
     * written and read back. The shortcut must have x's shape.
     */
    public static Tensor batchNormAddRelu(Tensor x, BatchNormSpec bn, Tensor shortcut) {
        return ResidualOps.batchNormAddRelu(x, bn, null, shortcut, null, null);
    }

    /** relu(x.batchNorm(bn) + shortcut.batchNorm(shortcutBn)) as one op, a projection shortcut's block end; see the other batchNormAddRelu. */
    public static Tensor batchNormAddRelu(Tensor x, BatchNormSpec bn, Tensor shortcut, BatchNormSpec shortcutBn) {
        return ResidualOps.batchNormAddRelu(x, bn, null, shortcut, java.util.Objects.requireNonNull(shortcutBn, "shortcutBn"), null);
    }

    /**
     * relu(x.conv2d(weight, bias, options).batchNorm(bn) + shortcut): a residual block's second conv, BN, the
     * identity shortcut's sum and the ReLU, recorded as a conv2d and one batchNormAddRelu. In training the batch
     * statistics are gathered in the convolution's pass over its output (float32).
     */
    public static Tensor conv2dBatchNormAddRelu(Tensor x, Tensor weight, Tensor bias, ConvOptions options, BatchNormSpec bn, Tensor shortcut) {
        return ResidualOps.conv2dBatchNormAddRelu(x, weight, bias, options, bn, shortcut, null, null, null, null);
    }

    /**
     * relu(x.conv2d(weight, bias, options).batchNorm(bn) + shortcut.conv2d(shortcutWeight, shortcutBias,
     * shortcutOptions).batchNorm(shortcutBn)): a residual block's end with a projection shortcut, as two
     * conv2d and one batchNormAddRelu; see the identity form.
     */
    public static Tensor conv2dBatchNormAddRelu(Tensor x, Tensor weight, Tensor bias, ConvOptions options, BatchNormSpec bn, Tensor shortcut, Tensor shortcutWeight,
                                                Tensor shortcutBias, ConvOptions shortcutOptions, BatchNormSpec shortcutBn) {
        return ResidualOps.conv2dBatchNormAddRelu(x, weight, bias, options, bn, shortcut, java.util.Objects.requireNonNull(shortcutWeight, "shortcutWeight"),
                shortcutBias, shortcutOptions, java.util.Objects.requireNonNull(shortcutBn, "shortcutBn"));
    }

    /** relu(x.batchNorm(...)) in one pass over the data (the usual BN + ReLU pair of a CNN block). */
    public static Tensor batchNormRelu(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                       boolean training, double momentum, double eps) {
        return NormOps.batchNormRelu(x, runningMean, runningVar, weight, bias, training, momentum, eps);
    }
}
