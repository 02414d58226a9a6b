package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Keeps files small enough to read: none of the engine's sources may pass 600 lines. */
class SourceBudgetTest {
    @Test
    void noSourceFileIsOver600Lines() throws IOException {
        Path root = Path.of("src/main/java");
        List<String> big;
        try (Stream<Path> files = Files.walk(root)) {
            big = files.filter(p -> p.toString().endsWith(".java")).filter(p -> {
                try {
                    return Files.readAllLines(p).size() > 600;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).map(Path::toString).toList();
        }
        assertTrue(big.isEmpty(), "files over 600 lines, split them by meaning: " + big);
    }
}
