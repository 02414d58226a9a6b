package io.featurefuse.nn.layers;

import io.featurefuse.engine.Shape;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;

/** Group normalisation, as torch.nn.GroupNorm (eps 1e-5, affine). */
public final class GroupNorm extends Module {
    private final Tensor weight, bias;
    private final int groups;

    public GroupNorm(int groups, int channels) {
        if (groups <= 0 || channels % groups != 0)
            throw new IllegalArgumentException("GroupNorm: " + channels + " channels do not split into " + groups + " groups");
        this.groups = groups;
        weight = parameter("weight", Tensor.ones(channels));
        bias = parameter("bias", Tensor.zeros(channels));
    }

    @Override
    public Tensor forward(Tensor x) {
        return x.groupNorm(groups, weight, bias, 1e-5);
    }

    @Override
    public long flops(Shape in, Shape out) {
        return 5L * out.numel();
    }
}
