package io.featurefuse.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code fuse bench --vs-torch}: the side-by-side benchmark against PyTorch (and NumPy for SGEMM),
 * which is benchmarks/side-by-side.sh in the featurefuse checkout: the reference side is Python, so
 * the script drives both sides, each in fresh processes, taking turns. This runs it with the
 * options given (--threads, --rounds, --sizes, --only sgemm|ops|model), its output on this
 * process's terminal, and returns its exit status.
 */
final class VsTorch {
    private VsTorch() {}

    /** The options --vs-torch passes on; the rest of fuse bench's do not apply to it. */
    static final Set<String> OPTIONS = Set.of("--threads", "--rounds", "--sizes", "--only");

    static int run(Options o) throws IOException {
        String only = o.string("--only", null);
        if (only != null && !Set.of("sgemm", "ops", "model").contains(only))
            throw new UsageException("bench: with --vs-torch, --only takes sgemm, ops or model, not '" + only + "'");
        Path home = Path.of(System.getProperty("featurefuse.home", ".")).toAbsolutePath().normalize();
        Path script = home.resolve("benchmarks").resolve("side-by-side.sh");
        if (!Files.isRegularFile(script))
            throw new UsageException("bench: --vs-torch runs benchmarks/side-by-side.sh from the featurefuse checkout, and there is none at " + script);
        List<String> command = new ArrayList<>(List.of("bash", script.toString()));
        // validated here, so that a bad value gets fuse's message rather than the script's
        if (o.string("--threads", null) != null) command.addAll(List.of("--threads", String.valueOf(o.integer("--threads", 0, 1, 1024))));
        if (o.string("--rounds", null) != null) command.addAll(List.of("--rounds", String.valueOf(o.integer("--rounds", 0, 1, 100))));
        if (o.string("--sizes", null) != null) {
            StringBuilder sizes = new StringBuilder();
            for (int n : o.integers("--sizes", null, 1, 8192)) sizes.append(sizes.isEmpty() ? "" : ",").append(n);
            command.addAll(List.of("--sizes", sizes.toString()));
        }
        if (only != null) command.addAll(List.of("--only", only));
        Process p = new ProcessBuilder(command).directory(home.toFile()).inheritIO().start();
        try {
            return p.waitFor();
        } catch (InterruptedException e) {
            p.destroy();
            Thread.currentThread().interrupt();
            throw new IOException("bench --vs-torch was interrupted", e);
        }
    }
}
