package io.featurefuse.nn.layers;

import io.featurefuse.engine.Shape;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;

/** Layer normalisation over the trailing dims, as torch.nn.LayerNorm (eps 1e-5, affine). */
public final class LayerNorm extends Module {
    private final Tensor weight, bias;
    private final int[] normalizedShape;

    public LayerNorm(int... normalizedShape) {
        this.normalizedShape = normalizedShape.clone();
        weight = parameter("weight", Tensor.ones(normalizedShape));
        bias = parameter("bias", Tensor.zeros(normalizedShape));
    }

    @Override
    public Tensor forward(Tensor x) {
        return x.layerNorm(normalizedShape, weight, bias, 1e-5);
    }

    @Override
    public long flops(Shape in, Shape out) {
        return 5L * out.numel();
    }
}
