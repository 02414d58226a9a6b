package io.featurefuse.nn.layers;

import io.featurefuse.engine.Tensor;
import java.util.random.RandomGenerator;

/** PyTorch's default bias initialisation: uniform in +-1/sqrt(fan_in). */
final class Init {
    private Init() {}

    static Tensor fanInUniform(RandomGenerator rng, int fanIn, int... dims) {
        double bound = 1 / Math.sqrt(fanIn);
        return Tensor.uniform(rng, -bound, bound, dims);
    }
}
