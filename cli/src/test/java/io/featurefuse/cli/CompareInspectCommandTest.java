package io.featurefuse.cli;

import static io.featurefuse.cli.TrainEvalCommandTest.fuse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.io.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** fuse compare and fuse inspect through the command line, small, plus their answers to bad input. */
class CompareInspectCommandTest {
    @BeforeAll
    static void home() {
        System.setProperty("featurefuse.home", "..");
    }

    @Test
    void compareOnTrainedWeightsWithFrozenBackbones(@TempDir Path dir) throws Exception {
        Path wa = dir.resolve("a.safetensors"), wb = dir.resolve("b.safetensors");
        assertEquals(0, fuse("train", "--model", "vgg:8,16", "--epochs", "1", "--limit", "256", "--save", wa.toString()).status());
        assertEquals(0, fuse("train", "--model", "mobilenet:8,16", "--epochs", "1", "--limit", "256", "--save", wb.toString()).status());
        var r = fuse("compare", "--a", "vgg:8,16:" + wa, "--b", "mobilenet:8,16:" + wb, "--freeze", "--strategies", "concat,film",
                "--limit", "256", "--epochs", "1", "--out", dir.resolve("run").toString(), "--cka-samples", "64");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("best: "), r.out());
        Map<?, ?> json = (Map<?, ?>) Json.parse(Files.readString(dir.resolve("run").resolve("results.json")));
        List<?> results = (List<?>) json.get("results");
        assertEquals(4, results.size());
        Map<?, ?> concat = (Map<?, ?>) results.get(2);
        assertEquals("concat", concat.get("strategy"));
        assertTrue(((Number) concat.get("trainable_params")).longValue() < ((Number) concat.get("params")).longValue(), "frozen backbones do not train");
        assertTrue(Files.exists(dir.resolve("run").resolve("report.html")));
        // Weights that do not fit their model: one sentence, and no run folder left behind.
        var misfit = fuse("compare", "--a", "mobilenet:8,16:" + wa, "--b", "mobilenet:8,16:" + wb, "--out", dir.resolve("misfit").toString());
        assertEquals(2, misfit.status());
        assertTrue(misfit.err().startsWith("fuse: " + wa + " does not fit model mobilenet:8,16 (fuse train saved it from a vgg:8,16): ") && misfit.err().lines().count() == 1, misfit.err());
        assertFalse(Files.exists(dir.resolve("misfit")), "a run that cannot start writes no folder");
        var again = fuse("compare", "--out", dir.resolve("run").toString());
        assertEquals(2, again.status());
        assertEquals("fuse: compare: " + dir.resolve("run") + " already holds results.json; name another --out (or continue it with --resume)\n", again.err());
    }

    static double testAcc(Path run, int index) throws Exception {
        return result(run, index, "test_acc");
    }

    /** A number of results.json's index-th candidate. */
    static double result(Path run, int index, String key) throws Exception {
        Map<?, ?> json = (Map<?, ?>) Json.parse(Files.readString(run.resolve("results.json")));
        return ((Number) ((Map<?, ?>) ((List<?>) json.get("results")).get(index)).get(key)).doubleValue();
    }

    @Test
    void compareContinuesAnEarlierRunWithResume(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("run");
        String[] common = {"compare", "--models", "vgg:8,mobilenet:8", "--strategies", "add", "--limit", "128", "--cka-samples", "32",
                "--out", run.toString()};
        var first = fuse(concat(common, "--epochs", "1"));
        assertEquals(0, first.status(), first.err());
        double acc = testAcc(run, 2), seconds = result(run, 2, "seconds"), rate = result(run, 2, "train_img_per_s");
        // A finished run: nothing to train, the same answer from its checkpoints and metrics.
        var again = fuse(concat(common, "--epochs", "1", "--resume"));
        assertEquals(0, again.status(), again.err());
        assertTrue(seconds > 0, "seconds " + seconds);
        assertEquals(seconds, result(run, 2, "seconds"), 0.1, "the training time of the epoch run before");
        assertEquals(rate, result(run, 2, "train_img_per_s"), 0.1);
        assertEquals(1, Files.readAllLines(run.resolve("metrics").resolve("add-seed0.jsonl")).size(), "no epoch was trained again");
        assertEquals(acc, testAcc(run, 2), 0.0);
        // More epochs: each candidate goes on from its checkpoint, and its curve holds every epoch.
        var longer = fuse(concat(common, "--epochs", "2", "--resume"));
        assertEquals(0, longer.status(), longer.err());
        List<String> curve = Files.readAllLines(run.resolve("metrics").resolve("add-seed0.jsonl"));
        assertEquals(2, curve.size(), String.join("\n", curve));
        assertTrue(curve.get(1).startsWith("{\"epoch\":2,"), curve.get(1));
        // Other settings than the checkpoint's are refused, and --resume needs the run's folder.
        var otherLr = fuse(concat(common, "--epochs", "2", "--resume", "--lr", "0.1"));
        assertEquals(2, otherLr.status());
        assertTrue(otherLr.err().startsWith("fuse: compare: cannot resume ") && otherLr.err().contains("lr="), otherLr.err());
        var frozen = fuse(concat(common, "--epochs", "3", "--resume", "--freeze"));
        assertEquals(2, frozen.status());
        assertTrue(frozen.err().endsWith("it was trained with freeze=false, not true\n"), frozen.err());
        var nearest = fuse(concat(common, "--epochs", "3", "--resume", "--up", "bilinear-corners"));
        assertTrue(nearest.err().endsWith("it was trained with up=bilinear, not bilinear-corners\n"), nearest.err());
        var moreImages = fuse(concat(common, "--epochs", "3", "--resume", "--limit", "256"));
        assertTrue(moreImages.err().contains("it was trained with train_data=128 images"), moreImages.err());
        assertEquals(2, Files.readAllLines(run.resolve("metrics").resolve("add-seed0.jsonl")).size(), "no refused run trained an epoch");
        assertEquals("fuse: compare: --resume continues an earlier run: name its folder with --out DIR\n", fuse("compare", "--resume").err());
        assertEquals("fuse: compare: --resume: " + dir.resolve("nothing") + " holds no checkpoints/ of an earlier compare run\n",
                fuse("compare", "--resume", "--out", dir.resolve("nothing").toString()).err());
    }

    @Test
    void aBrokenWeightsFileFailsBeforeAnythingIsWritten(@TempDir Path dir) throws Exception {
        Path broken = dir.resolve("broken.safetensors");
        Files.write(broken, new byte[] {8, 0, 0, 0, 0, 0, 0, 0, '{', '}'});
        var r = fuse("compare", "--a", "vgg:8:" + broken, "--b", "mobilenet:8", "--out", dir.resolve("run").toString());
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("fuse: " + broken + ": not a valid safetensors file") && r.err().lines().count() == 1, r.err());
        assertFalse(Files.exists(dir.resolve("run")), "a run that cannot start writes no folder");
        assertEquals("fuse: compare: --out " + broken + " is a file, not a folder\n", fuse("compare", "--out", broken.toString()).err());
    }

    static String[] concat(String[] a, String... b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void inspectReportsTapsPlansCostsAndCka() throws Exception {
        var r = fuse("inspect", "--models", "vgg:8,16,mobilenet:8", "--samples", "32", "--json");
        assertEquals(0, r.status(), r.err());
        Map<?, ?> j = (Map<?, ?>) Json.parse(r.out().strip());
        assertEquals("vgg:8,16", j.get("a"));
        assertEquals("mobilenet:8", j.get("b"));
        assertEquals(19, ((List<?>) j.get("strategies")).size());
        List<?> matrix = (List<?>) ((Map<?, ?>) j.get("cka")).get("matrix");
        assertEquals(2, matrix.size());
        assertTrue(j.containsKey("note"), "untrained models are flagged");
        var text = fuse("inspect", "--samples", "32");
        assertTrue(text.out().contains("alignment of A.block2 and B.conv3 (policy to-larger)"), text.out());
    }

    @Test
    void badInputGetsOneSentence() {
        Map<String[], String> cases = Map.ofEntries(
                Map.entry(new String[] {"compare", "--strategies", "add,sum"}, "fuse: compare: unknown fusion strategy 'sum'; the strategies are add, sub, absdiff, mul, div, max, concat, weighted, weighted-channel, weighted-pixel, softmax, bifpn, gated, film, attention, cbam, aff, iaff, cross-attention\n"),
                Map.entry(new String[] {"compare", "--strategies", "add,concat,add"}, "fuse: compare: --strategies names 'add' twice\n"),
                Map.entry(new String[] {"compare", "--all", "--strategies", "add"}, "fuse: compare: --all runs every strategy; give it or --strategies, not both\n"),
                Map.entry(new String[] {"compare", "--up", "cubic"}, "fuse: compare: --up must be one of bilinear, bilinear-corners, nearest, deconv, not 'cubic'\n"),
                Map.entry(new String[] {"compare", "--tap-a", "conv9"}, "fuse: compare: backbone has no feature tap 'conv9'; it has stem, block1, block2\n"),
                Map.entry(new String[] {"compare", "--models", "resnet_a"}, "fuse: compare: --models takes two models separated by a comma, e.g. resnet_a,vgg_b, not 'resnet_a'\n"),
                Map.entry(new String[] {"compare", "--a", "resnet_a:nope.safetensors"}, "fuse: compare: weights file nope.safetensors does not exist\n"),
                Map.entry(new String[] {"inspect", "--b", "vgg_b:src"}, "fuse: inspect: weights file src is a folder, not a file\n"),
                Map.entry(new String[] {"compare", "--models", "resnet_a,nope"}, "fuse: compare: --models resnet_a,nope: unknown model 'nope'; use resnet_a, vgg_b, resnet:32x2,64x2, vgg:32,64 or mobilenet:32,64\n"),
                Map.entry(new String[] {"inspect", "--models", "vgg:32,64"}, "fuse: inspect: --models takes two models separated by a comma, e.g. resnet_a,vgg_b, not 'vgg:32,64'\n"),
                Map.entry(new String[] {"inspect", "--align", "5000x14"}, "fuse: inspect: alignment size 5000x14 is out of range: height and width from 1 to 4096\n"),
                Map.entry(new String[] {"inspect", "--align", "huge"}, "fuse: inspect: alignment policy 'huge' is not to-larger, to-smaller or a size such as 14x14\n"));
        for (var c : cases.entrySet()) {
            var r = fuse(c.getKey());
            assertEquals(2, r.status(), String.join(" ", c.getKey()) + ": " + r.err());
            assertEquals(c.getValue(), r.err());
        }
    }
}
