package io.featurefuse.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.io.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * GcPauses sees the collections of its window and only those, and fuse bench --only gc-pauses
 * reports the longest pause as the row the side-by-side script takes the worst of.
 */
class GcPausesTest {
    @Test
    void collectionsInTheWindowAreCountedWithTheirPauses() throws Exception {
        try (GcPauses pauses = new GcPauses()) {
            Instant from = Instant.now();
            for (int i = 0; i < 3; i++) System.gc(); // G1: a full, stop-the-world collection each
            GcPauses.Summary s = pauses.since(from);
            assertTrue(s.collections() >= 3, s.toString());
            assertTrue(s.longestMs() > 0 && s.totalMs() >= s.longestMs(), s.toString());
        }
    }

    @Test
    void collectionsBeforeTheWindowAreLeftOut() throws Exception {
        try (GcPauses pauses = new GcPauses()) {
            System.gc();
            GcPauses.Summary s = pauses.since(Instant.now().plusSeconds(3600));
            assertEquals(new GcPauses.Summary(0, 0, 0), s);
        }
    }

    @Test
    void benchReportsTheLongestPauseOfSteadyTraining() throws Exception {
        var r = TrainEvalCommandTest.fuse("bench", "--only", "gc-pauses", "--seconds", "0.5", "--json");
        assertEquals(0, r.status(), r.err());
        Map<?, ?> row = (Map<?, ?>) Json.parse(r.out().strip());
        assertEquals(BenchCommand.GC_PAUSE_ROW, row.get("name"));
        assertEquals("ms", row.get("unit"));
        double ms = ((Number) row.get("best")).doubleValue();
        assertTrue(ms >= 0 && ms < 60_000, row.toString());
        String script = Files.readString(Path.of("..", "benchmarks", "side-by-side.sh"));
        assertTrue(script.contains("--only gc-pauses") && script.contains("\"" + BenchCommand.GC_PAUSE_ROW + "\""),
                "side-by-side.sh runs the row and takes its worst over the rounds by that name");
    }
}
