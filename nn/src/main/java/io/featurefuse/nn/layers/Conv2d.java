package io.featurefuse.nn.layers;

import io.featurefuse.engine.ConvOptions;
import io.featurefuse.engine.Shape;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import java.util.random.RandomGenerator;

/** 2-D convolution, as torch.nn.Conv2d: weight [out, in/groups, k, k], optional bias, PyTorch's initialisation. */
public final class Conv2d extends Module {
    private final Tensor weight, bias;
    private final ConvOptions options;

    public Conv2d(int in, int out, int kernel, int stride, int padding, boolean bias, RandomGenerator rng) {
        this(in, out, kernel, ConvOptions.of(stride, padding), bias, rng);
    }

    public Conv2d(int in, int out, int kernel, ConvOptions options, boolean bias, RandomGenerator rng) {
        if (in <= 0 || out <= 0 || kernel <= 0) throw new IllegalArgumentException("Conv2d: channels and kernel must be positive, not in=" + in + " out=" + out + " kernel=" + kernel);
        if (in % options.groups() != 0 || out % options.groups() != 0)
            throw new IllegalArgumentException("Conv2d: " + in + " in and " + out + " out channels must both divide by groups=" + options.groups());
        this.options = options;
        this.weight = parameter("weight", Tensor.kaimingUniform(rng, Math.sqrt(5), out, in / options.groups(), kernel, kernel));
        this.bias = bias ? parameter("bias", Init.fanInUniform(rng, (in / options.groups()) * kernel * kernel, out)) : null;
    }

    @Override
    public Tensor forward(Tensor x) {
        return x.conv2d(weight, bias, options);
    }

    public Tensor weight() { return weight; }

    /** The bias, or null. */
    public Tensor bias() { return bias; }

    public ConvOptions options() { return options; }

    @Override
    public long flops(Shape in, Shape out) {
        return 2L * out.numel() * weight.shape().dim(1) * weight.shape().dim(2) * weight.shape().dim(3);
    }
}
