package io.featurefuse.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.nn.data.Augment;
import io.featurefuse.nn.data.DataLoader;
import io.featurefuse.nn.data.Dataset;
import io.featurefuse.nn.data.Idx;
import io.featurefuse.nn.models.Backbones;
import io.featurefuse.nn.models.Classifier;
import io.featurefuse.nn.train.Checkpoint;
import io.featurefuse.nn.train.Evaluation;
import io.featurefuse.nn.train.Progress;
import io.featurefuse.nn.train.TrainConfig;
import io.featurefuse.nn.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
    static Dataset train, test;

    @BeforeAll
    static void data() throws IOException {
        train = Idx.loadFolder(DataTest.SUBSET, true, Idx.FASHION_CLASSES).head(640);
        test = Idx.loadFolder(DataTest.SUBSET, false, Idx.FASHION_CLASSES).head(256);
    }

    static final double[] MEAN = {0.2860}, STD = {0.3530};

    static Classifier model(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        return new Classifier("vgg:8,16", Backbones.create("vgg:8,16", 1, r), 10, r);
    }

    static Trainer trainer(Classifier m, TrainConfig c, List<Double> losses) {
        DataLoader tr = new DataLoader(train, c.batch(), true, c.seed(), MEAN, STD, c.augment());
        DataLoader te = new DataLoader(test, 128, false, 0, MEAN, STD, Augment.NONE);
        return new Trainer(m, c, tr, te).progress(Progress.silent()).onStep((s, l) -> losses.add(l));
    }

    static final TrainConfig RECIPE = TrainConfig.reference().withEpochs(2).withBatch(64).withSeed(11).withAugment(new Augment(2, 0.5));

    @Test
    void sameSeedSameLossesAndTheModelLearns() throws IOException {
        List<Double> a = new ArrayList<>(), b = new ArrayList<>();
        Classifier ma = model(1), mb = model(1);
        var ra = trainer(ma, RECIPE, a).fit(null, false);
        trainer(mb, RECIPE, b).fit(null, false);
        for (var e : ma.stateDict().entrySet())
            assertArrayEquals(e.getValue().toArray(), mb.stateDict().get(e.getKey()).toArray(), e.getKey());
        assertEquals(20, a.size());
        assertEquals(a, b, "bit-for-bit the same loss sequence");
        assertTrue(ra.getLast().testAcc() > 0.2, "twice chance after 20 steps: " + ra.getLast());
        assertTrue(ra.getLast().trainLoss() < ra.getFirst().trainLoss());
    }

    @Test
    void resumeAfterAKillContinuesExactly(@TempDir Path dir) throws IOException {
        List<Double> full = new ArrayList<>();
        Classifier whole = model(1);
        trainer(whole, RECIPE, full).fit(dir.resolve("whole.safetensors"), false);

        Path save = dir.resolve("m.safetensors");
        List<Double> first = new ArrayList<>();
        Trainer killed = trainer(model(1), RECIPE, first).onStep((s, l) -> {
            first.add(l);
            if (s == 13) throw new IllegalStateException("killed"); // mid-way through epoch 2
        });
        assertThrows(IllegalStateException.class, () -> killed.fit(save, false));
        List<Double> rest = new ArrayList<>();
        Classifier resumed = model(99); // other initial weights: the checkpoint must overwrite them all
        trainer(resumed, RECIPE, rest).fit(save, true);
        assertEquals(full.subList(10, 20), rest);
        assertArrayEquals(whole.stateDict().get("fc.weight").toArray(), resumed.stateDict().get("fc.weight").toArray());
        assertTrue(Files.exists(Checkpoint.resumeFile(save)));
    }

    @Test
    void resumeRefusesAnotherRecipe(@TempDir Path dir) throws IOException {
        Path save = dir.resolve("m.safetensors");
        trainer(model(1), RECIPE.withEpochs(1), new ArrayList<>()).fit(save, false);
        var e = assertThrows(IllegalArgumentException.class, () -> trainer(model(1), RECIPE.withLr(0.1), new ArrayList<>()).fit(save, true));
        assertEquals("cannot resume " + Checkpoint.resumeFile(save) + ": it was trained with lr=0.05, not 0.1", e.getMessage());
    }

    @Test
    void resumeRefusesOtherTrainingData(@TempDir Path dir) throws IOException {
        Path save = dir.resolve("m.safetensors");
        trainer(model(1), RECIPE.withEpochs(1), new ArrayList<>()).fit(save, false);
        String stored = "cannot resume " + Checkpoint.resumeFile(save) + ": it was trained with train_data=640 images 1x28x28 in 10 classes, crc32c ";
        // fewer images (another --limit)
        var fewer = assertThrows(IllegalArgumentException.class, () -> trainerOn(train.head(576), save));
        assertTrue(fewer.getMessage().startsWith(stored) && fewer.getMessage().contains(", not 576 images 1x28x28 in 10 classes, crc32c "),
                fewer.getMessage());
        // as many images, one pixel different (another folder of the same size)
        byte[] pixels = train.pixels().clone();
        pixels[1000] ^= 1;
        Dataset other = new Dataset(train.name(), pixels, train.labels(), 1, 28, 28, train.classes());
        var changed = assertThrows(IllegalArgumentException.class, () -> trainerOn(other, save));
        assertTrue(changed.getMessage().startsWith(stored) && changed.getMessage().contains(", not 640 images"), changed.getMessage());
        // a checkpoint written before the data was recorded resumes on whatever data it is given
        Classifier m = model(1);
        Trainer t = trainer(m, RECIPE.withEpochs(1), new ArrayList<>());
        t.fit(save, false);
        Checkpoint.save(save, m, t.optimizer(), 1, RECIPE.withEpochs(1).toMetadata());
        assertEquals(1, trainerOn(train.head(576), save).size());
    }

    /** RECIPE's second epoch on the given training images, resumed from save. */
    private static List<Trainer.EpochResult> trainerOn(Dataset images, Path save) throws IOException {
        DataLoader tr = new DataLoader(images, RECIPE.batch(), true, RECIPE.seed(), MEAN, STD, RECIPE.augment());
        DataLoader te = new DataLoader(test, 128, false, 0, MEAN, STD, Augment.NONE);
        return new Trainer(model(1), RECIPE, tr, te).progress(Progress.silent()).fit(save, true);
    }

    @Test
    void divergenceStopsWithOneSentenceAndKeepsTheLastCheckpoint(@TempDir Path dir) throws IOException {
        Path save = dir.resolve("m.safetensors");
        Classifier m = model(1);
        trainer(m, RECIPE.withEpochs(1), new ArrayList<>()).fit(save, false);
        byte[] before = Files.readAllBytes(save);
        TrainConfig wild = RECIPE.withEpochs(3).withLr(1e6).withSchedule("constant", 0);
        var e = assertThrows(Trainer.DivergedException.class, () -> trainer(model(1), wild, new ArrayList<>()).fit(save, false));
        assertTrue(e.getMessage().startsWith("training diverged: the loss became "), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(save));
    }

    @Test
    void evaluationCountsAgreeWithTheConfusionMatrix() {
        Classifier m = model(3);
        Evaluation ev = Trainer.evaluate(m, new DataLoader(test, 100, false, 0, MEAN, STD, Augment.NONE));
        long total = 0, diag = 0;
        long[][] cm = ev.confusion();
        for (int i = 0; i < 10; i++) for (int j = 0; j < 10; j++) {
            total += cm[i][j];
            if (i == j) diag += cm[i][j];
        }
        assertEquals(256, total);
        assertEquals(diag / 256.0, ev.accuracy(), 1e-12);
        assertTrue(ev.topKAccuracy() >= ev.accuracy());
        assertTrue(ev.report(Idx.FASHION_CLASSES).contains("Ankle boot"));
    }
}
