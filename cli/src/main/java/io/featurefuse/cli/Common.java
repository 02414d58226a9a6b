package io.featurefuse.cli;

import io.featurefuse.nn.models.Backbones;
import io.featurefuse.nn.models.Classifier;
import java.util.SplittableRandom;

/** Option handling the commands share. */
final class Common {
    private Common() {}

    /** --threads N sets the pool size; it must run before the first kernel starts the pool. */
    static void threads(Options o) {
        if (o.string("--threads", null) != null)
            System.setProperty("featurefuse.threads", String.valueOf(o.integer("--threads", 0, 1, 1024)));
    }

    /** A classifier from a model spec (see Backbones), seeded. */
    static Classifier model(String spec, int channels, int classes, long seed, String command) {
        SplittableRandom rng = new SplittableRandom(seed);
        try {
            return new Classifier(spec, Backbones.create(spec, channels, rng), classes, rng);
        } catch (IllegalArgumentException e) {
            throw new UsageException(command + ": " + e.getMessage());
        }
    }
}
