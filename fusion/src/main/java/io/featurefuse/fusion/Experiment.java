package io.featurefuse.fusion;

import io.featurefuse.engine.Tensor;
import io.featurefuse.engine.io.SafeTensors;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.data.Augment;
import io.featurefuse.nn.data.DataLoader;
import io.featurefuse.nn.data.Dataset;
import io.featurefuse.nn.models.Backbone;
import io.featurefuse.nn.models.Backbones;
import io.featurefuse.nn.models.Classifier;
import io.featurefuse.nn.optim.ParamGroup;
import io.featurefuse.nn.train.Checkpoint;
import io.featurefuse.nn.train.Progress;
import io.featurefuse.nn.train.TrainConfig;
import io.featurefuse.nn.train.TrainedWith;
import io.featurefuse.nn.train.Trainer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The experiment behind {@code fuse compare}: every candidate (each backbone alone, late fusion,
 * the fusion strategies) is trained with the same recipe, data order and seeds, and evaluated on
 * the same test set; the outcome per candidate is the test accuracy over seeds (mean and sample
 * standard deviation), its size and cost, its training speed and curves, and what it learned.
 */
public final class Experiment {
    /** A model: a backbone spec and, optionally, trained weights (a state dict saved by fuse train, keys body.* and fc.*). */
    public record ModelRef(String spec, Path weights) {
        public static ModelRef parse(String text) {
            int colon = text.indexOf(":", text.startsWith("resnet:") || text.startsWith("vgg:") || text.startsWith("mobilenet:") ? text.indexOf(':') + 1 : 0);
            return colon < 0 ? new ModelRef(text, null) : new ModelRef(text.substring(0, colon), Path.of(text.substring(colon + 1)));
        }

        @Override
        public String toString() {
            return weights == null ? spec : spec + " (" + weights.getFileName() + ")";
        }
    }

    public record Settings(ModelRef a, ModelRef b, String tapA, String tapB, List<String> candidates, int seeds, TrainConfig recipe,
                           boolean freeze, double backboneLrScale, int channels, String policy, Aligner.Up up, Aligner.Down down,
                           int ckaSamples) {}

    /** One candidate's results over all seeds. */
    public record Outcome(String name, String label, List<Double> testAccs, double testAcc, double testAccStd, long params,
                          long trainableParams, long flops, double trainImgPerS, double seconds, List<Trainer.EpochResult> curve,
                          Map<String, double[]> learnedWeights) {}

    public record Result(Settings settings, String plan, List<Outcome> outcomes, List<String> tapsA, List<String> tapsB, double[][] cka) {
        public Outcome best() {
            return outcomes.stream().max(java.util.Comparator.comparingDouble(Outcome::testAcc)).orElseThrow();
        }
    }

    public static final String A_ONLY = "a-only", B_ONLY = "b-only", LATE = "late";

    private final Dataset train, test;
    private final double[] mean, std;
    private final Settings s;
    private final Path out;
    private final PrintStream log;
    private boolean resume;
    /** Built once, by the first call of plan(). */
    private String plan;

    public Experiment(Dataset train, Dataset test, double[] mean, double[] std, Settings settings, Path out, PrintStream log) {
        this.train = train;
        this.test = test;
        this.mean = mean;
        this.std = std;
        this.s = settings;
        this.out = out;
        this.log = log;
        for (String c : settings.candidates())
            if (!c.equals(A_ONLY) && !c.equals(B_ONLY) && !c.equals(LATE)) Strategies.needs(c); // names an unknown one now, not after an hour
    }

    /** With resume, each candidate whose checkpoint is in the output folder continues from it instead of starting over. */
    public Experiment resume(boolean resume) {
        this.resume = resume;
        return this;
    }

    /**
     * The alignment plan of the two taps. Building it loads both models' weights, so a file that does
     * not fit its model fails here, before run() writes anything (a failed run left empty folders).
     */
    public String plan() throws IOException {
        if (plan == null)
            plan = buildCandidate(s.candidates().stream().filter(c -> !c.equals(A_ONLY) && !c.equals(B_ONLY) && !c.equals(LATE))
                    .findFirst().orElse("add"), s.recipe().seed()).plan;
        return plan;
    }

    /**
     * What a candidate's checkpoints record of the run besides the recipe and the data (Trainer adds
     * those), so that --resume with other settings is refused rather than finishing a run begun under
     * them. Every setting is recorded for every candidate: the run is one experiment.
     */
    private Map<String, String> runMetadata(String candidate) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("candidate", candidate);
        m.put("a", s.a().spec());
        m.put("b", s.b().spec());
        m.put("tap_a", s.tapA());
        m.put("tap_b", s.tapB());
        m.put("freeze", Boolean.toString(s.freeze()));
        m.put("backbone_lr", Double.toString(s.backboneLrScale()));
        m.put("channels", Integer.toString(s.channels()));
        m.put("align", s.policy());
        m.put("up", Aligner.optionName(s.up()));
        m.put("down", Aligner.optionName(s.down()));
        return m;
    }

    public Result run() throws IOException {
        String plan = plan();
        Files.createDirectories(out.resolve("checkpoints"));
        Files.createDirectories(out.resolve("metrics"));
        log.println("compare: alignment for " + s.a().spec() + "." + s.tapA() + " and " + s.b().spec() + "." + s.tapB() + ": " + plan);
        List<Outcome> outcomes = new ArrayList<>();
        Map<String, Module> trainedSeed0 = new LinkedHashMap<>();
        int n = 0;
        for (String c : s.candidates()) {
            n++;
            List<Double> accs = new ArrayList<>();
            List<Trainer.EpochResult> curve = null;
            double imagesPerS = 0, seconds = 0;
            Built first = null;
            for (int seed = 0; seed < s.seeds(); seed++) {
                long seedValue = s.recipe().seed() + seed;
                Built built = buildCandidate(c, seedValue);
                if (first == null) first = built;
                log.printf(Locale.ROOT, "compare: [%d/%d] %s, seed %d of %d%n", n, s.candidates().size(), label(c), seed + 1, s.seeds());
                TrainConfig recipe = s.recipe().withSeed(seedValue);
                DataLoader tr = new DataLoader(train, recipe.batch(), true, recipe.seed(), mean, std, recipe.augment());
                DataLoader te = new DataLoader(test, 500, false, 0, mean, std, Augment.NONE);
                Trainer trainer = new Trainer(built.model, recipe, tr, te, groups(built, recipe)).progress(Progress.stderr())
                        .metricsFile(out.resolve("metrics").resolve(c + "-seed" + seed + ".jsonl"))
                        .modelMetadata(runMetadata(c));
                Path weights = out.resolve("checkpoints").resolve(c + "-seed" + seed + ".safetensors");
                Path metrics = out.resolve("metrics").resolve(c + "-seed" + seed + ".jsonl");
                boolean resumed = resume && Files.exists(Checkpoint.resumeFile(weights));
                if (!resumed) Files.deleteIfExists(metrics); // a fresh start writes a fresh curve
                else log.printf(Locale.ROOT, "compare: continuing %s, seed %d from %s%n", label(c), seed + 1, Checkpoint.resumeFile(weights));
                List<Trainer.EpochResult> r = trainer.fit(weights, resumed);
                if (resumed) r = curve(metrics); // the earlier run's epochs and this one's
                accs.add(r.getLast().testAcc());
                // time and rate from the curve's training seconds, so that a resumed candidate counts the epochs run before too
                double images = 0, trainSeconds = 0;
                for (Trainer.EpochResult e : r) {
                    images += e.imagesPerSecond() * e.seconds();
                    trainSeconds += e.seconds();
                }
                imagesPerS += images / trainSeconds;
                seconds += trainSeconds;
                if (seed == 0) {
                    curve = r;
                    if (c.equals(A_ONLY) || c.equals(B_ONLY)) trainedSeed0.put(c, built.model); // for CKA; others may go
                }
            }
            Module m = first.model;
            Map<String, double[]> learned = m instanceof TwoStream ts ? ts.fusion().learnedWeights() : Map.of();
            outcomes.add(new Outcome(c, label(c), accs, meanOf(accs), stdOf(accs), m.parameterCount(false), m.parameterCount(true),
                    m.flopsPerInput(train.channels(), train.height(), train.width()), imagesPerS / s.seeds(), seconds / s.seeds(), curve, learned));
        }
        Backbone ba = trainedSeed0.get(A_ONLY) instanceof Classifier ca ? ca.body() : backbone(s.a(), new SplittableRandom(s.recipe().seed()));
        Backbone bb = trainedSeed0.get(B_ONLY) instanceof Classifier cb ? cb.body() : backbone(s.b(), new SplittableRandom(s.recipe().seed() + 1));
        int samples = Math.min(s.ckaSamples(), test.size());
        DataLoader sample = new DataLoader(test.head(samples), samples, false, 0, mean, std, Augment.NONE);
        Tensor images = sample.batch(0, sample.order(0), 0).images();
        double[][] cka = Cka.matrix(ba, bb, images, 256);
        return new Result(s, plan, outcomes, ba.taps().stream().map(t -> t.name()).toList(), bb.taps().stream().map(t -> t.name()).toList(), cka);
    }

    /** The epochs in a metrics file, the last line of each epoch winning; an error if there are none. */
    static List<Trainer.EpochResult> curve(Path metrics) throws IOException {
        if (!Files.exists(metrics)) throw new IOException("cannot resume: " + metrics + " (the finished epochs' metrics) does not exist");
        Map<Integer, Trainer.EpochResult> byEpoch = new java.util.TreeMap<>();
        for (String line : Files.readAllLines(metrics)) {
            if (line.isBlank()) continue;
            try {
                Trainer.EpochResult e = Trainer.EpochResult.fromJson(line);
                byEpoch.put(e.epoch(), e);
            } catch (IllegalArgumentException e) {
                throw new IOException("cannot resume: " + metrics + " has a line that is not an epoch's metrics (" + e.getMessage() + ")");
            }
        }
        if (byEpoch.isEmpty()) throw new IOException("cannot resume: " + metrics + " holds no finished epoch");
        return List.copyOf(byEpoch.values());
    }

    private record Built(Module model, String plan, List<Tensor> backboneParams) {}

    private Built buildCandidate(String c, long seed) throws IOException {
        SplittableRandom rng = new SplittableRandom(seed);
        int classes = train.classes().size();
        return switch (c) {
            case A_ONLY -> single(s.a(), rng, classes);
            case B_ONLY -> single(s.b(), rng, classes);
            case LATE -> {
                Built a = single(s.a(), rng, classes), b = single(s.b(), rng, classes);
                List<Tensor> bp = new ArrayList<>(a.backboneParams);
                bp.addAll(b.backboneParams);
                yield new Built(new LateFusion((Classifier) a.model, (Classifier) b.model), "", bp);
            }
            default -> {
                Backbone a = backbone(s.a(), rng), b = backbone(s.b(), rng);
                TwoStream m = new TwoStream(a, s.tapA(), b, s.tapB(), c, s.policy(), s.up(), s.down(), s.channels(), classes, s.freeze(),
                        train.height(), train.width(), rng);
                List<Tensor> bp = new ArrayList<>(a.parameters());
                bp.addAll(b.parameters());
                yield new Built(m, m.plan().description(), bp);
            }
        };
    }

    private Built single(ModelRef ref, SplittableRandom rng, int classes) throws IOException {
        Classifier m = new Classifier(ref.spec(), backbone(ref, rng), classes, rng);
        if (s.freeze() && ref.weights() != null) m.body().freeze(true);
        return new Built(m, "", m.body().parameters());
    }

    private Backbone backbone(ModelRef ref, SplittableRandom rng) throws IOException {
        return backbone(ref, train.channels(), rng);
    }

    /**
     * A backbone of ref's spec with the body.* weights of the classifier saved in ref's file,
     * when it names one; a file that does not fit says which keys clash.
     */
    public static Backbone backbone(ModelRef ref, int channels, java.util.random.RandomGenerator rng) throws IOException {
        Backbone b = Backbones.create(ref.spec(), channels, rng);
        if (ref.weights() != null) {
            Map<String, Tensor> body = new LinkedHashMap<>();
            SafeTensors.Contents file = SafeTensors.read(ref.weights());
            file.tensors().forEach((k, v) -> {
                if (k.startsWith("body.")) body.put(k.substring(5), v);
            });
            try {
                b.loadStateDict(body, true);
            } catch (IllegalArgumentException e) {
                String record = TrainedWith.misfit(file.metadata(), ref.spec(), channels, -1);
                throw new IOException(ref.weights() + " does not fit model " + ref.spec() + record + ": " + e.getMessage().replace("loadStateDict: ", ""));
            }
        }
        return b;
    }

    /** Pretrained, fine-tuned backbones learn at backboneLrScale times the rate of the new layers. */
    private List<ParamGroup> groups(Built built, TrainConfig recipe) {
        boolean pretrained = s.a().weights() != null || s.b().weights() != null;
        if (!pretrained || s.freeze() || s.backboneLrScale() == 1) return List.of(new ParamGroup(built.model.parameters(), recipe.lr(), recipe.weightDecay()));
        java.util.Set<Tensor> backbone = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        backbone.addAll(built.backboneParams);
        List<Tensor> rest = built.model.parameters().stream().filter(p -> !backbone.contains(p)).toList();
        return List.of(new ParamGroup(built.backboneParams, recipe.lr() * s.backboneLrScale(), recipe.weightDecay()),
                new ParamGroup(rest, recipe.lr(), recipe.weightDecay()));
    }

    public String label(String c) {
        return switch (c) {
            case A_ONLY -> s.a().spec() + " alone";
            case B_ONLY -> s.b().spec() + " alone";
            case LATE -> "late fusion (logit average)";
            default -> c;
        };
    }

    static double meanOf(List<Double> v) {
        return v.stream().mapToDouble(Double::doubleValue).average().orElse(0);
    }

    static double stdOf(List<Double> v) {
        if (v.size() < 2) return 0;
        double m = meanOf(v), s = 0;
        for (double x : v) s += (x - m) * (x - m);
        return Math.sqrt(s / (v.size() - 1));
    }
}
