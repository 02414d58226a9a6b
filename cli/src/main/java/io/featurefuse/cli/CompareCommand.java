package io.featurefuse.cli;

import io.featurefuse.fusion.Aligner;
import io.featurefuse.fusion.Experiment;
import io.featurefuse.fusion.ReportPage;
import io.featurefuse.fusion.ResultsFiles;
import io.featurefuse.fusion.Strategies;
import io.featurefuse.nn.data.Augment;
import io.featurefuse.nn.models.Backbones;
import io.featurefuse.nn.train.TrainConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;

/** fuse compare: the main job. Trains the single backbones and the fusion strategies alike and reports which wins. */
final class CompareCommand {
    static final int DEFAULT_SUBSET_LIMIT = 6_000;

    private CompareCommand() {}

    static int run(List<String> args, PrintStream out) throws IOException {
        Options o = Options.parse("compare", args, Set.of("--a", "--b", "--models", "--tap-a", "--tap-b", "--strategies", "--seeds",
                "--epochs", "--batch", "--lr", "--limit", "--threads", "--data", "--out", "--channels", "--align", "--up", "--down",
                "--backbone-lr", "--cka-samples", "--seed"), Set.of("--all", "--freeze", "--no-singles", "--resume"));
        Common.threads(o);
        String[] ab = Common.modelPair(o, "compare");
        String a = ab[0], b = ab[1];
        Experiment.ModelRef ra = Experiment.ModelRef.parse(a), rb = Experiment.ModelRef.parse(b);
        for (Experiment.ModelRef r : List.of(ra, rb))
            if (r.weights() != null) Common.existingFile("compare", "weights file", r.weights());
        if (o.flag("--all") && o.string("--strategies", null) != null)
            throw new UsageException("compare: --all runs every strategy; give it or --strategies, not both");
        List<String> strategies = o.flag("--all") ? Strategies.names()
                : o.string("--strategies", null) == null ? Strategies.CORE : Arrays.stream(o.string("--strategies", null).split(",")).map(String::strip).toList();
        List<String> candidates = new ArrayList<>();
        if (!o.flag("--no-singles")) {
            candidates.add(Experiment.A_ONLY);
            candidates.add(Experiment.B_ONLY);
        }
        if (o.flag("--all")) candidates.add(Experiment.LATE);
        var named = new java.util.HashSet<String>();
        for (String s : strategies) {
            // each candidate's checkpoint and metrics file are named after it, so a second run of one would overwrite the first
            if (!named.add(s)) throw new UsageException("compare: --strategies names '" + s + "' twice");
            if (s.equals(Experiment.LATE)) candidates.add(s);
            else {
                try {
                    Strategies.needs(s);
                } catch (IllegalArgumentException e) {
                    throw new UsageException("compare: " + e.getMessage());
                }
                candidates.add(s);
            }
        }
        int epochs = o.integer("--epochs", 1, 1, 10_000);
        TrainConfig recipe;
        try {
            recipe = TrainConfig.reference().withEpochs(epochs).withBatch(o.integer("--batch", 128, 1, 65_536))
                    .withLr(o.decimal("--lr", 0.05, 1e-9, 100)).withSeed(o.integer("--seed", 0, 0, Integer.MAX_VALUE)).withAugment(Augment.NONE);
        } catch (IllegalArgumentException e) {
            throw new UsageException("compare: " + e.getMessage());
        }
        DataSource data = DataSource.open(o.string("--data", null), "compare");
        // On the shipped subset the default run takes 6,000 of its 10,000 training images, so that
        // the whole job (six candidates, one epoch each, and the first build) stays well under five minutes on 2 cores.
        int defaultLimit = o.string("--data", null) == null ? DEFAULT_SUBSET_LIMIT : Integer.MAX_VALUE;
        var train = data.train().head(o.integer("--limit", defaultLimit, 1, Integer.MAX_VALUE));
        String tapA, tapB;
        try {
            tapA = o.string("--tap-a", Backbones.create(ra.spec(), train.channels(), new SplittableRandom(0)).output().name());
            tapB = o.string("--tap-b", Backbones.create(rb.spec(), train.channels(), new SplittableRandom(0)).output().name());
            Backbones.create(ra.spec(), train.channels(), new SplittableRandom(0)).tap(tapA);
            Backbones.create(rb.spec(), train.channels(), new SplittableRandom(0)).tap(tapB);
        } catch (IllegalArgumentException e) {
            throw new UsageException("compare: " + e.getMessage());
        }
        Aligner.Up up = choice("compare", "--up", o.string("--up", "bilinear"), Aligner.Up.class);
        Aligner.Down down = choice("compare", "--down", o.string("--down", "avgpool"), Aligner.Down.class);
        Experiment.Settings settings = new Experiment.Settings(ra, rb, tapA, tapB, candidates, o.integer("--seeds", 1, 1, 100), recipe,
                o.flag("--freeze"), o.decimal("--backbone-lr", 0.1, 0, 10), o.integer("--channels", 128, 0, 4096), o.string("--align", "to-larger"),
                up, down, o.integer("--cka-samples", 512, 8, 100_000));
        Path dir = Path.of(o.string("--out", "runs/compare-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))));
        if (Files.exists(dir) && !Files.isDirectory(dir)) throw new UsageException("compare: --out " + dir + " is a file, not a folder");
        boolean resume = o.flag("--resume");
        if (resume && o.string("--out", null) == null)
            throw new UsageException("compare: --resume continues an earlier run: name its folder with --out DIR");
        if (resume && !Files.isDirectory(dir.resolve("checkpoints")))
            throw new UsageException("compare: --resume: " + dir + " holds no checkpoints/ of an earlier compare run");
        if (!resume && Files.exists(dir.resolve("results.json")))
            throw new UsageException("compare: " + dir + " already holds results.json; name another --out (or continue it with --resume)");
        Experiment experiment;
        try {
            experiment = new Experiment(train, data.test(), data.mean(), data.std(), settings, dir, System.err).resume(resume);
            experiment.plan(); // the weights files fit their models, before the run's header names a folder
        } catch (IllegalArgumentException e) {
            throw new UsageException("compare: " + e.getMessage());
        }
        System.err.printf(Locale.ROOT, "fuse compare: %s + %s, %s x %s, %s on %,d training / %,d test images, %s; results in %s%n",
                ra, rb, Common.count(candidates.size(), "candidate"), Common.count(settings.seeds(), "seed"), Common.count(epochs, "epoch"),
                train.size(), data.test().size(), Common.count(io.featurefuse.engine.cpu.Parallel.threads(), "thread"), dir);
        Experiment.Result r;
        try {
            r = experiment.run();
        } catch (IllegalArgumentException e) {
            throw new UsageException("compare: " + e.getMessage());
        }
        ResultsFiles.writeJson(r, dir.resolve("results.json"));
        ReportPage.write(r, dir.resolve("report.html"));
        out.print(ResultsFiles.table(r));
        out.println("best: " + r.best().label() + "; results.json and report.html in " + dir);
        return 0;
    }

    static <E extends Enum<E>> E choice(String command, String option, String value, Class<E> type) {
        for (E e : type.getEnumConstants()) if (Aligner.optionName(e).equalsIgnoreCase(value)) return e;
        throw new UsageException(command + ": " + option + " must be one of " + String.join(", ",
                Arrays.stream(type.getEnumConstants()).map(Aligner::optionName).toList()) + ", not '" + value + "'");
    }
}
