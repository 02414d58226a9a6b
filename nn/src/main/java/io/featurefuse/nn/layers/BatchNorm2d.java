package io.featurefuse.nn.layers;

import io.featurefuse.engine.BatchNormSpec;
import io.featurefuse.engine.DType;
import io.featurefuse.engine.Fused;
import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.PoolOptions;
import io.featurefuse.engine.Shape;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.Summary;

/**
 * Batch normalisation over the channels of [N, C, H, W], as torch.nn.BatchNorm2d (momentum 0.1,
 * eps 1e-5): batch statistics while training (running statistics updated), running ones in eval.
 */
public final class BatchNorm2d extends Module {
    private final Tensor weight, bias, runningMean, runningVar, batches;
    private final double momentum, eps;

    public BatchNorm2d(int channels) {
        this(channels, 0.1, 1e-5);
    }

    public BatchNorm2d(int channels, double momentum, double eps) {
        if (channels <= 0) throw new IllegalArgumentException("BatchNorm2d: channels must be positive, not " + channels);
        this.momentum = momentum;
        this.eps = eps;
        weight = parameter("weight", Tensor.ones(channels));
        bias = parameter("bias", Tensor.zeros(channels));
        runningMean = buffer("running_mean", Tensor.zeros(channels));
        runningVar = buffer("running_var", Tensor.ones(channels));
        batches = integerBuffer("num_batches_tracked", Tensor.full(Shape.of(), DType.F64, 0));
    }

    @Override
    public Tensor forward(Tensor x) {
        if (x.rank() != 4) throw new IllegalArgumentException("BatchNorm2d: input must be [N, C, H, W], not " + x.shape());
        countBatch();
        return x.batchNorm(runningMean, runningVar, weight, bias, isTraining(), momentum, eps);
    }

    /**
     * relu(call(x)) as one fused op (one pass, one activation buffer), in training and in eval.
     * While a summary records layer shapes it runs the two steps apart, so the summary sees this layer.
     */
    public Tensor callRelu(Tensor x) {
        if (Summary.isObserving()) return call(x).relu();
        if (x.rank() != 4) throw new IllegalArgumentException("BatchNorm2d: input must be [N, C, H, W], not " + x.shape());
        countBatch();
        return Fused.batchNormRelu(x, runningMean, runningVar, weight, bias, isTraining(), momentum, eps);
    }

    /**
     * call(conv.call(x)), relu'd when relu is true, as one engine op (Fused.conv2dBatchNorm): in training the batch
     * statistics are gathered in the convolution's pass over its output. While a summary records layer shapes the
     * layers run one by one, so the summary sees each.
     */
    public Tensor callAfter(Conv2d conv, Tensor x, boolean relu) {
        if (Summary.isObserving()) {
            Tensor y = call(conv.call(x));
            return relu ? y.relu() : y;
        }
        countBatch();
        return Fused.conv2dBatchNorm(x, conv.weight(), conv.bias(), conv.options(), runningMean, runningVar, weight, bias, isTraining(), momentum, eps,
                relu);
    }

    /**
     * callAfter(conv, x, true) then a global average pool, [N, C, 1, 1], as one engine op
     * (Fused.conv2dBatchNormReluPool): the same values, without the normalised map written and read back.
     * While a summary records layer shapes the layers run one by one, so the summary sees each.
     */
    public Tensor callReluPooledAfter(Conv2d conv, Tensor x) {
        if (Summary.isObserving()) return call(conv.call(x)).relu().adaptiveAvgPool2d(1, 1);
        countBatch();
        return Fused.conv2dBatchNormReluPool(x, conv.weight(), conv.bias(), conv.options(), spec());
    }

    /**
     * callReluPooledAfter(conv, the maps joined along channels), without the joined map: the conv reads the maps
     * where they lie (Fused.conv2dOfConcatBatchNormReluPool). The same values.
     */
    public Tensor callReluPooledAfter(Conv2d conv, java.util.List<Tensor> maps) {
        if (Summary.isObserving()) return callReluPooledAfter(conv, Tensor.concat(maps, 1));
        countBatch();
        return Fused.conv2dOfConcatBatchNormReluPool(maps, conv.weight(), conv.bias(), conv.options(), spec());
    }

    /**
     * callReluPooledAfter(conv, maps) of the maps each resized to to's size first (Tensor.interpolate): a smaller map
     * runs through the 1x1 conv at its own size and the conv's output is resized (Fused.conv2dOfResizedConcatBatchNormReluPool),
     * which changes the last bits. While a summary records layer shapes the maps are resized and joined first.
     */
    public Tensor callReluPooledAfter(Conv2d conv, java.util.List<Tensor> maps, io.featurefuse.engine.ResizeSpec to) {
        if (Summary.isObserving())
            return callReluPooledAfter(conv, maps.stream().map(m -> m.interpolate(to.h(), to.w(), to.mode(), to.alignCorners())).toList());
        countBatch();
        return Fused.conv2dOfResizedConcatBatchNormReluPool(maps, to, conv.weight(), conv.bias(), conv.options(), spec());
    }

    /**
     * callAfter(conv, x, true) then maxPool2d(pool), as the engine ops conv2d and batchNormReluMaxPool2d
     * (Fused.conv2dBatchNormReluMaxPool2d): the same values, without the normalised map written and read back.
     * While a summary records layer shapes the layers run one by one.
     */
    public Tensor callReluMaxPoolAfter(Conv2d conv, Tensor x, PoolOptions pool) {
        if (Summary.isObserving()) return call(conv.call(x)).relu().maxPool2d(pool);
        countBatch();
        return Fused.conv2dBatchNormReluMaxPool2d(x, conv.weight(), conv.bias(), conv.options(), spec(), pool);
    }

    BatchNormSpec spec() {
        return new BatchNormSpec(runningMean, runningVar, weight, bias, isTraining(), momentum, eps);
    }

    void countBatch() {
        if (isTraining()) {
            try (var off = GradMode.off()) {
                batches.assign(batches.add(1));
            }
        }
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }
    public Tensor runningMean() { return runningMean; }
    public Tensor runningVar() { return runningVar; }
    public double eps() { return eps; }

    @Override
    public long flops(Shape in, Shape out) {
        return 2L * out.numel(); // one scale and one shift per element once folded
    }
}
