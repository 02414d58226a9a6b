package io.featurefuse.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.cli.TrainEvalCommandTest.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** fuse help and the README name every row group fuse bench --only takes, and a wrong one is answered with the list. */
class HelpTextTest {
    private static final String ONLY = "--only " + String.join("|", BenchCommand.ONLY);

    @Test
    void helpAndReadmeListEveryBenchGroup() throws Exception {
        Result help = TrainEvalCommandTest.fuse("help");
        assertEquals(0, help.status());
        assertTrue(help.out().contains(ONLY + " "), "fuse help lacks '" + ONLY + "'");
        assertTrue(Files.readString(Path.of("..", "README.md")).contains(ONLY + "]"), "README lacks '" + ONLY + "'");
    }

    @Test
    void aWrongGroupIsAnsweredWithTheList() {
        Result r = TrainEvalCommandTest.fuse("bench", "--only", "conv");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--only takes sgemm, add, ops, model, train-step, inference, peak, first-step, train-rss or gc-pauses, not 'conv'"),
                r.err());
    }
}
