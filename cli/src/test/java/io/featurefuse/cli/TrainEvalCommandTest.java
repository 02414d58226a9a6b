package io.featurefuse.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.io.Json;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** fuse train and fuse eval end to end on the shipped Fashion-MNIST subset, and their answers to bad input. */
class TrainEvalCommandTest {
    @BeforeAll
    static void home() {
        System.setProperty("featurefuse.home", ".."); // tests run in cli/; the data lies in ../data
    }

    /** A state dict PyTorch saved (tests run in cli/). */
    static final String GOLDEN = "../nn/src/test/resources/golden/resnet_a.safetensors";

    record Result(int status, String out, String err) {}

    static Result fuse(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int status = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void trainThenEvalGiveJsonWithTheNamedKeys(@TempDir Path dir) throws Exception {
        Path w = dir.resolve("m.safetensors");
        Result t = fuse("train", "--model", "vgg:8,16", "--epochs", "1", "--limit", "512", "--batch", "64", "--save", w.toString(), "--json",
                "--metrics", dir.resolve("m.jsonl").toString());
        assertEquals(0, t.status(), t.err());
        Map<?, ?> tj = (Map<?, ?>) Json.parse(t.out().strip());
        assertEquals("vgg:8,16", tj.get("model"));
        assertTrue(Files.exists(w) && Files.exists(dir.resolve("m.safetensors.ckpt")));
        assertEquals(1, Files.readAllLines(dir.resolve("m.jsonl")).size());

        Result e = fuse("eval", "--model", "vgg:8,16", "--weights", w.toString(), "--json");
        assertEquals(0, e.status(), e.err());
        Map<?, ?> ej = (Map<?, ?>) Json.parse(e.out().strip());
        assertEquals(((Number) tj.get("test_acc")).doubleValue(), ((Number) ej.get("test_acc")).doubleValue(), 1e-6, "eval repeats train's final test");
        assertTrue(ej.containsKey("test_loss"));
        assertEquals(10, ((List<?>) ej.get("per_class")).size());
        List<?> confusion = (List<?>) ej.get("confusion");
        long total = 0;
        for (Object row : confusion) for (Object v : (List<?>) row) total += ((Number) v).longValue();
        assertEquals(2000, total);

        Result text = fuse("eval", "--model", "vgg:8,16", "--weights", w.toString());
        assertTrue(text.out().contains("confusion (rows true, columns predicted)"), text.out());
    }

    @Test
    void evalOfAnotherModelSaysWhatTheFileWasSavedFrom(@TempDir Path dir) throws Exception {
        Path w = dir.resolve("m.safetensors");
        // the run's header goes to the process's stderr, as the progress lines do
        ByteArrayOutputStream header = new ByteArrayOutputStream();
        PrintStream stderr = System.err;
        Result t;
        System.setErr(new PrintStream(header, true, StandardCharsets.UTF_8));
        try {
            t = fuse("train", "--model", "vgg:8,16", "--epochs", "1", "--limit", "64", "--batch", "64", "--save", w.toString());
        } finally {
            System.setErr(stderr);
        }
        assertEquals(0, t.status(), t.err());
        assertTrue(t.out().strip().endsWith(" after 1 epoch; weights in " + w), t.out());
        String said = header.toString(StandardCharsets.UTF_8);
        assertTrue(said.contains(" test images, 1 epoch of 1 batch, "), said);
        Result other = fuse("eval", "--model", "vgg:8,32", "--weights", w.toString());
        assertEquals(2, other.status());
        assertTrue(other.err().startsWith("fuse: eval: " + w + " does not fit --model vgg:8,32 (fuse train saved it from a vgg:8,16): "), other.err());
    }

    @Test
    void countsSayOneThingOrManyThings() {
        assertEquals("1 epoch", Common.count(1, "epoch"));
        assertEquals("0 epochs", Common.count(0, "epoch"));
        assertEquals("3 seeds", Common.count(3, "seed"));
        assertEquals("1 batch", Common.count(1, "batch", "batches"));
        assertEquals("20 batches", Common.count(20, "batch", "batches"));
    }

    @Test
    void evalTakesAStateDictSavedByPyTorch() {
        Result e = fuse("eval", "--model", "resnet_a", "--weights", GOLDEN, "--json");
        assertEquals(0, e.status(), e.err());
    }

    @Test
    void badInputGetsOneSentenceAndStatusTwo(@TempDir Path dir) {
        String w = dir.resolve("m.safetensors").toString();
        Map<String[], String> cases = Map.of(
                new String[] {"train", "--model", "alexnet", "--save", w}, "fuse: train: unknown model 'alexnet'; use resnet_a, vgg_b, resnet:32x2,64x2, vgg:32,64 or mobilenet:32,64\n",
                new String[] {"train", "--epochs", "0", "--save", w}, "fuse: train: --epochs must be a whole number from 1 to 100000, not '0'\n",
                new String[] {"train", "--model", "vgg_b"}, "fuse: train: --save F is required: the file the trained weights go to\n",
                new String[] {"train", "--optimizer", "lbfgs", "--save", w}, "fuse: train: optimizer 'lbfgs' is not one of sgd, adam, adamw\n",
                new String[] {"train", "--data", dir.toString(), "--save", w}, "fuse: train: --data " + dir + " holds no IDX files (train-images-idx3-ubyte[.gz] ...), no CIFAR binary batches and no train/ and test/ image folders\n",
                new String[] {"train", "--resume", "--save", w}, "fuse: cannot resume: " + w + ".ckpt does not exist\n",
                new String[] {"train", "--epochs", "1", "--limit", "64", "--save", dir.resolve("no").resolve("m.safetensors").toString()},
                "fuse: train: the folder of --save " + dir.resolve("no").resolve("m.safetensors") + " does not exist\n",
                new String[] {"train", "--epochs", "1", "--limit", "64", "--save", w, "--metrics", dir.resolve("no").resolve("m.jsonl").toString()},
                "fuse: train: the folder of --metrics " + dir.resolve("no").resolve("m.jsonl") + " does not exist\n",
                new String[] {"eval", "--weights", w}, "fuse: eval: --weights " + w + " does not exist\n");
        // a folder where a file is meant, and the other way round: refused before any training (a --save
        // folder failed only at the end)
        Map<String[], String> folders = Map.of(
                new String[] {"train", "--save", w, "--data", dir.resolve("none").toString()}, "fuse: train: --data " + dir.resolve("none") + " does not exist\n",
                new String[] {"eval", "--weights", GOLDEN, "--data", GOLDEN}, "fuse: eval: --data " + GOLDEN + " is a file, not a folder\n",
                new String[] {"eval", "--weights", dir.toString()}, "fuse: eval: --weights " + dir + " is a folder, not a file\n",
                new String[] {"train", "--epochs", "1", "--limit", "64", "--save", dir.toString()}, "fuse: train: --save " + dir + " is a folder, not a file\n",
                new String[] {"train", "--epochs", "1", "--limit", "64", "--save", w, "--metrics", dir.toString()},
                "fuse: train: --metrics " + dir + " is a folder, not a file\n");
        for (var c : List.of(cases, folders).stream().flatMap(m -> m.entrySet().stream()).toList()) {
            Result r = fuse(c.getKey());
            assertEquals(2, r.status(), String.join(" ", c.getKey()) + ": " + r.err());
            assertEquals(c.getValue(), r.err());
        }
    }

    @Test
    void fileSystemFailuresReadAsSentences() {
        assertEquals("/x/m.jsonl: no such file or folder", Main.sentence(new java.nio.file.NoSuchFileException("/x/m.jsonl")));
        assertEquals("/x: permission denied", Main.sentence(new java.nio.file.AccessDeniedException("/x")));
        assertEquals("/x: disk full", Main.sentence(new java.nio.file.FileSystemException("/x", null, "disk full")));
        assertEquals("truncated", Main.sentence(new java.io.IOException("truncated")));
    }

    @Test
    void evalSaysWhichKeysDoNotFit(@TempDir Path dir) {
        Result e = fuse("eval", "--model", "vgg_b", "--weights", GOLDEN);
        assertEquals(2, e.status());
        assertTrue(e.err().startsWith("fuse: eval: " + GOLDEN + " does not fit --model vgg_b: 12 missing keys: "), e.err());
    }
}
