package io.featurefuse.nn.train;

import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Loss;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Inference;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.data.Batch;
import io.featurefuse.nn.data.DataLoader;
import io.featurefuse.nn.layers.Dropout;
import io.featurefuse.nn.optim.Adam;
import io.featurefuse.nn.optim.LrSchedule;
import io.featurefuse.nn.optim.Optimizer;
import io.featurefuse.nn.optim.ParamGroup;
import io.featurefuse.nn.optim.Sgd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Trains a classifier with a recipe: per epoch, every batch of the training loader (forward,
 * cross-entropy, backward, optional clipping, optimizer step, schedule), then an evaluation on
 * the test loader, a checkpoint (weights + resume file, atomically) and a JSON line of metrics.
 * The same seed and thread count give the same loss sequence bit for bit, also across a resume.
 */
public final class Trainer {
    /** Metrics of one finished epoch. */
    public record EpochResult(int epoch, long step, double trainLoss, double trainAcc, double testLoss, double testAcc,
                              double lr, double imagesPerSecond, double seconds) {
        public String toJson() {
            return String.format(Locale.ROOT, "{\"epoch\":%d,\"step\":%d,\"train_loss\":%.6f,\"train_acc\":%.6f,\"test_loss\":%.6f,"
                    + "\"test_acc\":%.6f,\"lr\":%.6g,\"images_per_s\":%.1f,\"seconds\":%.2f}", epoch, step, trainLoss, trainAcc,
                    testLoss, testAcc, lr, imagesPerSecond, seconds);
        }

        /** Reads a line written by {@link #toJson}. */
        public static EpochResult fromJson(String line) {
            if (!(io.featurefuse.engine.io.Json.parse(line) instanceof Map<?, ?> m))
                throw new IllegalArgumentException("an epoch's metrics must be a JSON object, not " + line);
            return new EpochResult((int) number(m, "epoch"), (long) number(m, "step"), number(m, "train_loss"), number(m, "train_acc"),
                    number(m, "test_loss"), number(m, "test_acc"), number(m, "lr"), number(m, "images_per_s"), number(m, "seconds"));
        }

        private static double number(Map<?, ?> m, String key) {
            if (!(m.get(key) instanceof Number n)) throw new IllegalArgumentException("an epoch's metrics lack the number '" + key + "'");
            return n.doubleValue();
        }
    }

    /** Raised when the loss stops being a finite number; the last checkpoint on disk is left as it was. */
    public static final class DivergedException extends RuntimeException {
        public DivergedException(String message) {
            super(message);
        }
    }

    /** Called after every optimizer step with the step number (1-based) and that batch's loss. */
    @FunctionalInterface
    public interface StepListener {
        void onStep(long step, double loss);
    }

    private final Module model;
    private final TrainConfig config;
    private final DataLoader train, test;
    private final int classes;
    private final Optimizer optimizer;
    private final LrSchedule schedule;
    private Progress progress;
    private StepListener listener = (s, l) -> {};
    private Path metricsFile;
    private Map<String, String> modelMetadata = Map.of();

    public Trainer(Module model, TrainConfig config, DataLoader train, DataLoader test) {
        this(model, config, train, test, List.of(new ParamGroup(model.parameters(), config.lr(), config.weightDecay())));
    }

    /** With explicit parameter groups (e.g. a lower rate for pretrained backbones). */
    public Trainer(Module model, TrainConfig config, DataLoader train, DataLoader test, List<ParamGroup> groups) {
        this.model = model;
        this.config = config;
        this.train = train;
        this.test = test;
        this.classes = train.data().classes().size();
        this.optimizer = switch (config.optimizer()) {
            case "sgd" -> new Sgd(groups, config.momentum(), 0, config.momentum() > 0);
            case "adam" -> Adam.adam(groups);
            default -> Adam.adamW(groups);
        };
        long total = (long) config.epochs() * train.batchesPerEpoch();
        LrSchedule s = switch (config.schedule()) {
            case "cosine" -> LrSchedule.cosine(total);
            case "step" -> LrSchedule.step(Math.max(1, total / 3), 0.1);
            default -> LrSchedule.constant();
        };
        this.schedule = s.withWarmup(config.warmupSteps());
        this.progress = Progress.stderr();
    }

    public Trainer progress(Progress p) { this.progress = p; return this; }
    public Trainer onStep(StepListener l) { this.listener = l; return this; }
    public Trainer metricsFile(Path f) { this.metricsFile = f; return this; }
    /** Strings stored in checkpoints to say what model this is (e.g. its spec). */
    public Trainer modelMetadata(Map<String, String> m) { this.modelMetadata = Map.copyOf(m); return this; }

    public Optimizer optimizer() { return optimizer; }

    /**
     * Runs the remaining epochs. With save, checkpoints go to save and save.ckpt after each epoch;
     * with resume, training continues from save.ckpt (which must come from the same recipe).
     */
    public List<EpochResult> fit(Path save, boolean resume) throws IOException {
        int firstEpoch = 0;
        Map<String, String> meta = new LinkedHashMap<>(modelMetadata);
        config.toMetadata().forEach(meta::put);
        meta.put("train_data", train.data().fingerprint());
        if (resume) {
            if (save == null) throw new IllegalArgumentException("--resume needs --save: the checkpoint to continue is the one beside the saved weights");
            if (!Files.exists(Checkpoint.resumeFile(save))) throw new IOException("cannot resume: " + Checkpoint.resumeFile(save) + " does not exist");
            Checkpoint.State st = Checkpoint.load(save, model, optimizer);
            // a key the checkpoint lacks was not yet recorded by the featurefuse that wrote it
            for (var e : meta.entrySet())
                if (!e.getKey().equals("epochs") && st.metadata().containsKey(e.getKey()) && !e.getValue().equals(st.metadata().get(e.getKey())))
                    throw new IllegalArgumentException("cannot resume " + Checkpoint.resumeFile(save) + ": it was trained with " + e.getKey() + "="
                            + st.metadata().get(e.getKey()) + ", not " + e.getValue());
            firstEpoch = st.epochsDone();
        }
        List<EpochResult> results = new ArrayList<>();
        progress.begin(config.epochs(), train.batchesPerEpoch());
        for (int epoch = firstEpoch; epoch < config.epochs(); epoch++) {
            results.add(runEpoch(epoch));
            if (save != null) Checkpoint.save(save, model, optimizer, epoch + 1, meta);
            if (metricsFile != null)
                Files.writeString(metricsFile, results.getLast().toJson() + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
        return results;
    }

    private EpochResult runEpoch(int epoch) {
        model.train();
        List<Dropout> dropouts = model.namedModules().values().stream().filter(m -> m instanceof Dropout).map(m -> (Dropout) m).toList();
        Evaluation seen = new Evaluation(classes, 5);
        long t0 = System.nanoTime(), images = 0;
        double lr = 0;
        progress.startEpoch();
        try (DataLoader.Batches batches = train.epoch(epoch)) {
            while (batches.hasNext()) {
                Batch b = batches.next();
                long step = optimizer.steps();
                for (int i = 0; i < dropouts.size(); i++) dropouts.get(i).seed(DataLoader.mix(config.seed(), step, 1000 + i));
                optimizer.scaleLr(schedule.factor(step));
                lr = optimizer.groups().getFirst().lr();
                Tensor logits = model.call(b.images());
                Tensor loss = Loss.crossEntropy(logits, b.labels(), config.labelSmoothing());
                double value = loss.item();
                if (!Double.isFinite(value))
                    throw new DivergedException("training diverged: the loss became " + value + " at epoch " + (epoch + 1) + ", step " + (step + 1)
                            + "; the checkpoint of the last finished epoch is kept; lower the learning rate (now " + lr + ") or clip gradients");
                seen.add(logits.detach(), b.labels(), value);
                optimizer.zeroGrad();
                // The step's activations and gradients go back to the engine's pool for the next step.
                loss.backwardAndRecycle();
                if (config.clipNorm() > 0) Optimizer.clipGradNorm(model.parameters(), config.clipNorm());
                optimizer.step();
                images += b.labels().length;
                listener.onStep(optimizer.steps(), value);
                progress.step(epoch, b.index(), images, seen.meanLoss());
            }
        }
        double trainSeconds = (System.nanoTime() - t0) / 1e9;
        Evaluation ev = evaluate(model, test);
        EpochResult r = new EpochResult(epoch + 1, optimizer.steps(), seen.meanLoss(), seen.accuracy(), ev.meanLoss(), ev.accuracy(),
                lr, images / trainSeconds, trainSeconds);
        progress.endEpoch(String.format(Locale.ROOT, "epoch %d/%d  train loss %.4f acc %.4f  test loss %.4f acc %.4f  %.0f img/s  %.1fs",
                r.epoch(), config.epochs(), r.trainLoss(), r.trainAcc(), r.testLoss(), r.testAcc(), r.imagesPerSecond(), trainSeconds));
        return r;
    }

    /**
     * Accuracy, loss, per-class accuracy and confusion of a model over a loader, in eval mode
     * without gradients; each batch through {@link Inference#run} (chunks side by side on the
     * pool's threads, the same numbers as one call).
     */
    public static Evaluation evaluate(Module model, DataLoader loader) {
        boolean wasTraining = model.isTraining();
        model.eval();
        Evaluation ev = new Evaluation(loader.data().classes().size(), 5);
        try (var off = GradMode.off(); DataLoader.Batches batches = loader.epoch(0)) {
            while (batches.hasNext()) {
                Batch b = batches.next();
                Tensor logits = Inference.run(model, b.images());
                ev.add(logits, b.labels(), Loss.crossEntropy(logits, b.labels()).item());
            }
        } finally {
            if (wasTraining) model.train();
        }
        return ev;
    }
}
