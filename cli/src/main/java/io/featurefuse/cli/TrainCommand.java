package io.featurefuse.cli;

import io.featurefuse.nn.data.Augment;
import io.featurefuse.nn.data.DataLoader;
import io.featurefuse.nn.models.Classifier;
import io.featurefuse.nn.train.TrainConfig;
import io.featurefuse.nn.train.Trainer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** fuse train: trains one model with the reference recipe (or options), checkpointing each epoch. */
final class TrainCommand {
    private TrainCommand() {}

    static final Set<String> VALUES = Set.of("--model", "--data", "--epochs", "--batch", "--lr", "--optimizer", "--momentum",
            "--weight-decay", "--schedule", "--warmup", "--clip-norm", "--label-smoothing", "--crop-padding", "--flip", "--seed",
            "--save", "--threads", "--limit", "--metrics");

    static int run(List<String> args, PrintStream out) throws IOException {
        Options o = Options.parse("train", args, VALUES, Set.of("--resume", "--json", "--summary"));
        Common.threads(o);
        String spec = o.string("--model", "resnet_a");
        String save = o.string("--save", null);
        if (save == null) throw new UsageException("train: --save F is required: the file the trained weights go to");
        Path savePath = Common.fileToWrite("train", "--save", save);
        String metrics = o.string("--metrics", null);
        Path metricsPath = metrics == null ? null : Common.fileToWrite("train", "--metrics", metrics);
        TrainConfig config;
        try {
            config = new TrainConfig(o.integer("--epochs", 10, 1, 100_000), o.integer("--batch", 128, 1, 65_536),
                o.string("--optimizer", "sgd"), o.decimal("--lr", 0.05, 1e-12, 1e6), o.decimal("--momentum", 0.9, 0, 0.9999),
                o.decimal("--weight-decay", 5e-4, 0, 10), o.string("--schedule", "cosine"), o.integer("--warmup", 0, 0, 10_000_000),
                o.decimal("--clip-norm", 0, 0, 1e9), o.decimal("--label-smoothing", 0, 0, 0.99),
                new Augment(o.integer("--crop-padding", 0, 0, 64), o.decimal("--flip", 0, 0, 1)), o.integer("--seed", 0, 0, Integer.MAX_VALUE));
        } catch (IllegalArgumentException e) {
            throw new UsageException("train: " + e.getMessage());
        }
        DataSource data = DataSource.open(o.string("--data", null), "train");
        var train = data.train().head(o.integer("--limit", Integer.MAX_VALUE, 1, Integer.MAX_VALUE));
        Classifier model = Common.model(spec, train.channels(), train.classes().size(), config.seed(), "train");
        DataLoader trainLoader = new DataLoader(train, config.batch(), true, config.seed(), data.mean(), data.std(), config.augment());
        DataLoader testLoader = new DataLoader(data.test(), 500, false, 0, data.mean(), data.std(), Augment.NONE);
        System.err.printf(Locale.ROOT, "fuse train: %s, %,d parameters, %,d training / %,d test images, %s of %s, %s%n",
                spec, model.parameterCount(true), train.size(), data.test().size(), Common.count(config.epochs(), "epoch"),
                Common.count(trainLoader.batchesPerEpoch(), "batch", "batches"), Common.count(io.featurefuse.engine.cpu.Parallel.threads(), "thread"));
        if (o.flag("--summary")) System.err.print(model.summary(train.channels(), train.height(), train.width()));
        Trainer trainer = new Trainer(model, config, trainLoader, testLoader).modelMetadata(Map.of("model", spec));
        if (metricsPath != null) trainer.metricsFile(metricsPath);
        List<Trainer.EpochResult> results;
        try {
            results = trainer.fit(savePath, o.flag("--resume"));
        } catch (Trainer.DivergedException e) {
            System.err.println("fuse: " + e.getMessage());
            return 1;
        } catch (IllegalArgumentException e) {
            throw new UsageException("train: " + e.getMessage());
        }
        if (results.isEmpty()) {
            System.err.println("fuse train: " + Path.of(save) + ".ckpt has all " + Common.count(config.epochs(), "epoch") + " already; nothing to do");
            return 0;
        }
        Trainer.EpochResult last = results.getLast();
        if (o.flag("--json")) out.println(last.toJson().replace("{", "{\"model\":\"" + spec + "\","));
        else out.printf(Locale.ROOT, "%s: test accuracy %.4f, test loss %.4f after %s; weights in %s%n", spec, last.testAcc(),
                last.testLoss(), Common.count(last.epoch(), "epoch"), save);
        return 0;
    }
}
