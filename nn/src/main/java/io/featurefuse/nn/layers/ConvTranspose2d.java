package io.featurefuse.nn.layers;

import io.featurefuse.engine.ConvOptions;
import io.featurefuse.engine.Shape;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import java.util.random.RandomGenerator;

/** Transposed 2-D convolution, as torch.nn.ConvTranspose2d: weight [in, out/groups, k, k]. */
public final class ConvTranspose2d extends Module {
    private final Tensor weight, bias;
    private final ConvOptions options;
    private final int outputPadding;

    public ConvTranspose2d(int in, int out, int kernel, int stride, int padding, int outputPadding, boolean bias, RandomGenerator rng) {
        if (in <= 0 || out <= 0 || kernel <= 0) throw new IllegalArgumentException("ConvTranspose2d: channels and kernel must be positive");
        this.options = ConvOptions.of(stride, padding);
        this.outputPadding = outputPadding;
        // PyTorch computes fan-in from weight dim 1 for transposed convolutions too
        this.weight = parameter("weight", Tensor.kaimingUniform(rng, Math.sqrt(5), in, out, kernel, kernel));
        this.bias = bias ? parameter("bias", Init.fanInUniform(rng, out * kernel * kernel, out)) : null;
    }

    @Override
    public Tensor forward(Tensor x) {
        return x.convTranspose2d(weight, bias, options, outputPadding, outputPadding);
    }

    @Override
    public long flops(Shape in, Shape out) {
        return 2L * in.numel() * weight.shape().dim(1) * weight.shape().dim(2) * weight.shape().dim(3);
    }
}
