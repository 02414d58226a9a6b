package io.featurefuse.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.cli.TrainEvalCommandTest.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * fuse bench --vs-torch runs benchmarks/side-by-side.sh of the featurefuse home with the options it
 * was given, and answers bad input itself. A stand-in script records how it was called, so the
 * test runs no benchmark.
 */
class BenchVsTorchTest {
    @TempDir
    Path home;
    private String saved;

    @BeforeEach
    void standInScript() throws Exception {
        saved = System.getProperty("featurefuse.home");
        System.setProperty("featurefuse.home", home.toString());
        Path script = Files.createDirectories(home.resolve("benchmarks")).resolve("side-by-side.sh");
        Files.writeString(script, "echo \"$PWD|$*\" > called.txt\nexit 3\n");
    }

    @AfterEach
    void restoreHome() {
        if (saved == null) System.clearProperty("featurefuse.home");
        else System.setProperty("featurefuse.home", saved);
    }

    @Test
    void runsTheSideBySideScriptWithTheOptionsGiven() throws Exception {
        Result r = TrainEvalCommandTest.fuse("bench", "--threads", "1", "--vs-torch", "--rounds", "2", "--only", "sgemm", "--sizes", "64,128");
        assertEquals(3, r.status(), "the script's exit status: " + r.err());
        String called = Files.readString(home.resolve("called.txt")).strip();
        assertEquals(home.toRealPath() + "|--threads 1 --rounds 2 --sizes 64,128 --only sgemm", called);
    }

    @Test
    void badInputGetsOneSentenceAndRunsNothing() {
        Result json = TrainEvalCommandTest.fuse("bench", "--vs-torch", "--json");
        assertEquals(2, json.status());
        assertTrue(json.err().contains("unknown option '--json'"), json.err());
        Result only = TrainEvalCommandTest.fuse("bench", "--vs-torch", "--only", "add");
        assertEquals(2, only.status());
        assertTrue(only.err().contains("--only takes sgemm, ops or model, not 'add'"), only.err());
        Result rounds = TrainEvalCommandTest.fuse("bench", "--vs-torch", "--rounds", "0");
        assertEquals(2, rounds.status());
        assertTrue(rounds.err().contains("--rounds"), rounds.err());
        assertTrue(Files.notExists(home.resolve("called.txt")), "nothing ran");
    }

    @Test
    void saysWhereItLookedWhenTheScriptIsMissing() throws Exception {
        Files.delete(home.resolve("benchmarks").resolve("side-by-side.sh"));
        Result r = TrainEvalCommandTest.fuse("bench", "--vs-torch");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("benchmarks/side-by-side.sh") && r.err().contains(home.toString()), r.err());
    }
}
