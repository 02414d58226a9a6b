package io.featurefuse.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The op rows of fuse bench: each runs, each name is unique, and each is one the side-by-side's
 * PyTorch script reports too (it joins the two sides by name, so a row named differently on one
 * side would show featurefuse alone).
 */
class OpBenchmarksTest {
    @Test
    void everyCaseRunsAndHasAPyTorchTwin() throws Exception {
        String script = Files.readString(Path.of("..", "benchmarks", "side-by-side.sh"));
        List<OpBenchmarks.Case> cases = OpBenchmarks.cases();
        var names = new HashSet<String>();
        for (OpBenchmarks.Case c : cases) {
            assertTrue(names.add(c.name()), "two rows named " + c.name());
            assertTrue(c.work() > 0, c.name());
            String base = c.name().replaceAll(" fwd(\\+bwd)?$", "");
            boolean conv = c.name().startsWith("conv") || c.name().startsWith("depthwise");
            // the conv rows are made by conv(name, ...) there, which appends " fwd" and " fwd+bwd"
            assertTrue(script.contains("\"" + (conv ? base : c.name()) + "\""), "side-by-side.sh has no PyTorch row " + c.name());
            c.call().run();
        }
        assertEquals(16, cases.size());
    }
}
