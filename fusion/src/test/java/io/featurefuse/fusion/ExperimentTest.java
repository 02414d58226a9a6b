package io.featurefuse.fusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.io.Json;
import io.featurefuse.nn.data.Augment;
import io.featurefuse.nn.data.Dataset;
import io.featurefuse.nn.data.Idx;
import io.featurefuse.nn.train.TrainConfig;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExperimentTest {
    static final Path SUBSET = Path.of("..", "data", "fashion-mnist");

    @Test
    void compareWritesResultsJsonAndASelfContainedReport(@TempDir Path dir) throws Exception {
        Dataset train = Idx.loadFolder(SUBSET, true, Idx.FASHION_CLASSES).head(128), test = Idx.loadFolder(SUBSET, false, Idx.FASHION_CLASSES).head(64);
        Experiment.Settings s = new Experiment.Settings(new Experiment.ModelRef("vgg:4,8", null), new Experiment.ModelRef("mobilenet:8", null),
                "stage2", "stage1", List.of(Experiment.A_ONLY, Experiment.B_ONLY, Experiment.LATE, "add", "weighted-channel", "film"), 2,
                TrainConfig.reference().withEpochs(2).withBatch(64).withAugment(Augment.NONE), false, 0.1, 8, "to-larger",
                Aligner.Up.BILINEAR, Aligner.Down.AVGPOOL, 64);
        PrintStream quiet = new PrintStream(java.io.OutputStream.nullOutputStream());
        Experiment.Result r = new Experiment(train, test, new double[] {0.286}, new double[] {0.353}, s, dir, quiet).run();
        ResultsFiles.writeJson(r, dir.resolve("results.json"));
        ReportPage.write(r, dir.resolve("report.html"));

        Map<?, ?> json = (Map<?, ?>) Json.parse(Files.readString(dir.resolve("results.json")));
        List<?> results = (List<?>) json.get("results");
        assertEquals(6, results.size());
        for (Object o : results) {
            Map<?, ?> rec = (Map<?, ?>) o;
            for (String key : List.of("strategy", "test_acc", "test_acc_std", "params", "flops", "train_img_per_s", "seconds"))
                assertTrue(rec.containsKey(key), key + " missing in " + rec);
            assertEquals(2, ((List<?>) rec.get("test_accs")).size());
            assertEquals(2, ((List<?>) rec.get("epochs")).size());
        }
        assertEquals("A 8x14x14 -> bilinear -> 8x28x28; A 8->8, B 8->8 by 1x1 conv+BN", json.get("alignment"));
        Map<?, ?> cka = (Map<?, ?>) json.get("cka");
        assertEquals(List.of("stage1", "stage2"), cka.get("taps_a"));
        assertTrue(Files.exists(dir.resolve("metrics").resolve("film-seed1.jsonl")));
        assertTrue(Files.exists(dir.resolve("checkpoints").resolve("add-seed0.safetensors")));

        String html = Files.readString(dir.resolve("report.html"));
        assertTrue(html.contains("<svg") && html.contains("Training curves") && html.contains("linear CKA"), "report sections");
        assertFalse(html.contains("<script") || html.contains("http://") || html.contains("https://"), "nothing fetched, no scripts");
        assertTrue(html.contains("weighted-channel</b>, w (weight of A)"), "learned weights are shown");
        String table = ResultsFiles.table(r);
        assertTrue(table.contains("± ") && table.contains("<- best"), table);
        assertTrue(table.lines().findFirst().orElseThrow().endsWith("train img/s  train time"), "time is training time (resumed runs count earlier epochs): " + table);
        assertTrue(html.contains("<th>± std</th>"), "two seeds have a spread");
    }

    @Test
    void oneSeedShowsNoSpread(@TempDir Path dir) throws Exception {
        Experiment.Settings s = new Experiment.Settings(new Experiment.ModelRef("vgg:4,8", null), new Experiment.ModelRef("mobilenet:8", null),
                "stage2", "stage1", List.of("add"), 1, TrainConfig.reference(), false, 0.1, 8, "to-larger", Aligner.Up.BILINEAR,
                Aligner.Down.AVGPOOL, 64);
        var curve = List.of(new io.featurefuse.nn.train.Trainer.EpochResult(1, 10, 0.5, 0.8, 0.4, 0.9, 0.05, 50, 2));
        var add = new Experiment.Outcome("add", "add", List.of(0.9), 0.9, 0, 1234, 1234, 5_000_000, 50, 2, curve, Map.of());
        ReportPage.write(new Experiment.Result(s, "none needed", List.of(add), List.of("stage1", "stage2"), List.of("stage1"),
                new double[][] {{0.5}, {0.6}}), dir.resolve("report.html"));
        String html = Files.readString(dir.resolve("report.html"));
        assertFalse(html.contains("std"), "one seed has no spread to show, not a spread of 0");
        assertTrue(html.contains("<td>0.9000</td><td>1,234</td>"), "accuracy, then params");
    }

    @Test
    void modelRefsParseSpecsWithColons() {
        assertEquals(new Experiment.ModelRef("resnet_a", Path.of("a.safetensors")), Experiment.ModelRef.parse("resnet_a:a.safetensors"));
        assertEquals(new Experiment.ModelRef("resnet:8x1,16x1", null), Experiment.ModelRef.parse("resnet:8x1,16x1"));
        assertEquals(new Experiment.ModelRef("vgg:8,16", Path.of("w.st")), Experiment.ModelRef.parse("vgg:8,16:w.st"));
    }
}
