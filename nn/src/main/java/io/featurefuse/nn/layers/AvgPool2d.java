package io.featurefuse.nn.layers;

import io.featurefuse.engine.PoolOptions;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;

/** Average pooling, as torch.nn.AvgPool2d (stride defaults to the kernel). */
public final class AvgPool2d extends Module {
    private final PoolOptions options;

    public AvgPool2d(int kernel) {
        this(PoolOptions.of(kernel));
    }

    public AvgPool2d(PoolOptions options) {
        this.options = options;
    }

    @Override
    public Tensor forward(Tensor x) {
        return x.avgPool2d(options);
    }
}
