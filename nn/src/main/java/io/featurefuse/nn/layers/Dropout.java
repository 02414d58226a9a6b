package io.featurefuse.nn.layers;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/** Inverted dropout while training, identity in eval, as torch.nn.Dropout. The trainer reseeds it each step. */
public final class Dropout extends Module {
    private final double p;
    private RandomGenerator rng = new SplittableRandom(0);

    public Dropout(double p) {
        if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("Dropout: probability " + p + " must lie in [0, 1]");
        this.p = p;
    }

    /** Makes the next masks a function of this seed alone (so a resumed run draws the same masks). */
    public void seed(long seed) {
        rng = new SplittableRandom(seed);
    }

    @Override
    public Tensor forward(Tensor x) {
        return isTraining() ? x.dropout(p, rng) : x;
    }
}
