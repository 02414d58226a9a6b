package io.featurefuse.nn.layers;

import io.featurefuse.engine.Shape;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import java.util.random.RandomGenerator;

/** y = x W^T + b over the last dim, as torch.nn.Linear (weight [out, in]). */
public final class Linear extends Module {
    private final Tensor weight, bias;

    public Linear(int in, int out, boolean bias, RandomGenerator rng) {
        if (in <= 0 || out <= 0) throw new IllegalArgumentException("Linear: features must be positive, not in=" + in + " out=" + out);
        this.weight = parameter("weight", Tensor.kaimingUniform(rng, Math.sqrt(5), out, in));
        this.bias = bias ? parameter("bias", Init.fanInUniform(rng, in, out)) : null;
    }

    @Override
    public Tensor forward(Tensor x) {
        return x.linear(weight, bias);
    }

    @Override
    public long flops(Shape in, Shape out) {
        return 2L * out.numel() * weight.shape().dim(1);
    }
}
