package io.featurefuse.cli;

import io.featurefuse.nn.models.Backbones;
import io.featurefuse.nn.models.Classifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/** Option handling and wording the commands share. */
final class Common {
    private Common() {}

    /**
     * A file a command reads, checked before any work: "does not exist", or "is a folder, not a
     * file" (a folder read as a file failed later with the system's own words, or was said not to exist).
     */
    static Path existingFile(String command, String what, Path file) {
        if (Files.isDirectory(file)) throw new UsageException(command + ": " + what + " " + file + " is a folder, not a file");
        if (!Files.isRegularFile(file)) throw new UsageException(command + ": " + what + " " + file + " does not exist");
        return file;
    }

    /**
     * A file a command writes, checked before any work (a run that trained for an hour then failed
     * to save lost that hour): its folder must exist and it must not be a folder itself.
     */
    static Path fileToWrite(String command, String option, String file) {
        Path path = Path.of(file), folder = path.toAbsolutePath().getParent();
        if (folder != null && !Files.isDirectory(folder)) throw new UsageException(command + ": the folder of " + option + " " + file + " does not exist");
        if (Files.isDirectory(path)) throw new UsageException(command + ": " + option + " " + file + " is a folder, not a file");
        return path;
    }

    /** "1 epoch", "2 epochs": n and the noun, plural (with an s) unless n is 1. */
    static String count(long n, String noun) {
        return count(n, noun, noun + "s");
    }

    /** "1 batch", "2 batches": n and the noun, the plural given. */
    static String count(long n, String one, String many) {
        return n + " " + (n == 1 ? one : many);
    }

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

    /** The two models of compare and inspect: --models A,B, or --a and --b (each SPEC or SPEC:weights). */
    static String[] modelPair(Options o, String command) {
        String a = o.string("--a", "resnet_a"), b = o.string("--b", "vgg_b");
        String both = o.string("--models", null);
        if (both != null) {
            // split at the comma that starts the second model (specs such as vgg:32,64 hold commas themselves)
            String[] ab = both.split(",(?=(resnet_a|vgg_b|resnet:|vgg:|mobilenet:))");
            if (ab.length != 2) {
                // after the last comma either a stage of the first spec (vgg:32,64) or a second model no spec starts with
                String last = both.substring(both.lastIndexOf(',') + 1).strip();
                if (both.contains(",") && !last.matches("[0-9x]*")) {
                    try {
                        Backbones.create(last, 1, new SplittableRandom(0));
                    } catch (IllegalArgumentException e) {
                        throw new UsageException(command + ": --models " + both + ": " + e.getMessage());
                    }
                }
                throw new UsageException(command + ": --models takes two models separated by a comma, e.g. resnet_a,vgg_b, not '" + both + "'");
            }
            a = ab[0].strip();
            b = ab[1].strip();
        }
        return new String[] {a, b};
    }
}
