package io.featurefuse.nn.layers;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;

/** Flattens dims 1.. into one, as torch.nn.Flatten. */
public final class Flatten extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return x.flatten(1, -1);
    }
}
