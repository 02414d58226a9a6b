package io.featurefuse.nn.layers;

import io.featurefuse.engine.PoolOptions;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;

/** Max pooling, as torch.nn.MaxPool2d (stride defaults to the kernel). */
public final class MaxPool2d extends Module {
    private final PoolOptions options;

    public MaxPool2d(int kernel) {
        this(PoolOptions.of(kernel));
    }

    public MaxPool2d(PoolOptions options) {
        this.options = options;
    }

    public PoolOptions options() {
        return options;
    }

    @Override
    public Tensor forward(Tensor x) {
        return x.maxPool2d(options);
    }
}
