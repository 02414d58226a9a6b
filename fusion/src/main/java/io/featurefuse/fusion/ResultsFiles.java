package io.featurefuse.fusion;

import io.featurefuse.engine.io.Json;
import io.featurefuse.nn.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The compare results as a table (stdout) and as results.json (one record per candidate). */
public final class ResultsFiles {
    private ResultsFiles() {}

    public static String table(Experiment.Result r) {
        StringBuilder s = new StringBuilder();
        int seeds = r.settings().seeds();
        s.append(String.format(Locale.ROOT, "%-30s %-17s %10s %12s %12s %11s%n", "strategy", seeds > 1 ? "test acc (± std)" : "test acc",
                "params", "MFLOP/img", "train img/s", "train time"));
        Experiment.Outcome best = r.best();
        for (Experiment.Outcome o : r.outcomes()) {
            String acc = seeds > 1 ? String.format(Locale.ROOT, "%.4f ± %.4f", o.testAcc(), o.testAccStd()) : String.format(Locale.ROOT, "%.4f", o.testAcc());
            s.append(String.format(Locale.ROOT, "%-30s %-17s %,10d %12.1f %12.0f %10.0fs%s%n", o.label(), acc, o.params(), o.flops() / 1e6,
                    o.trainImgPerS(), o.seconds(), o == best ? "  <- best" : ""));
        }
        return s.toString();
    }

    public static void writeJson(Experiment.Result r, Path file) throws IOException {
        StringBuilder s = new StringBuilder("{\n");
        Experiment.Settings st = r.settings();
        s.append("  \"a\": ").append(Json.quote(st.a().toString())).append(", \"tap_a\": ").append(Json.quote(st.tapA()))
                .append(", \"b\": ").append(Json.quote(st.b().toString())).append(", \"tap_b\": ").append(Json.quote(st.tapB())).append(",\n");
        s.append("  \"alignment\": ").append(Json.quote(r.plan())).append(",\n");
        s.append(String.format(Locale.ROOT, "  \"epochs\": %d, \"seeds\": %d, \"batch\": %d, \"lr\": %s, \"freeze\": %s,%n",
                st.recipe().epochs(), st.seeds(), st.recipe().batch(), st.recipe().lr(), st.freeze()));
        s.append("  \"best\": ").append(Json.quote(r.best().name())).append(",\n  \"results\": [\n");
        for (int i = 0; i < r.outcomes().size(); i++) {
            Experiment.Outcome o = r.outcomes().get(i);
            s.append(String.format(Locale.ROOT, "    {\"strategy\": %s, \"label\": %s, \"test_acc\": %.6f, \"test_acc_std\": %.6f, \"test_accs\": %s, "
                            + "\"params\": %d, \"trainable_params\": %d, \"flops\": %d, \"train_img_per_s\": %.1f, \"seconds\": %.1f,%n",
                    Json.quote(o.name()), Json.quote(o.label()), o.testAcc(), o.testAccStd(), numbers(o.testAccs()), o.params(), o.trainableParams(),
                    o.flops(), o.trainImgPerS(), o.seconds()));
            s.append("     \"epochs\": [");
            for (int e = 0; e < o.curve().size(); e++) s.append(e > 0 ? ", " : "").append(o.curve().get(e).toJson());
            s.append("],\n     \"learned_weights\": {");
            int k = 0;
            for (Map.Entry<String, double[]> w : o.learnedWeights().entrySet())
                s.append(k++ > 0 ? ", " : "").append(Json.quote(w.getKey())).append(": ").append(numbers(w.getValue()));
            s.append("}}").append(i + 1 < r.outcomes().size() ? "," : "").append('\n');
        }
        s.append("  ],\n  \"cka\": {\"taps_a\": ").append(strings(r.tapsA())).append(", \"taps_b\": ").append(strings(r.tapsB())).append(", \"matrix\": [");
        for (int i = 0; i < r.cka().length; i++) s.append(i > 0 ? ", " : "").append(numbers(r.cka()[i]));
        s.append("]}\n}\n");
        Files.writeString(file, s.toString());
    }

    static String numbers(double[] v) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) s.append(i > 0 ? ", " : "").append(String.format(Locale.ROOT, "%.6g", v[i]));
        return s.append(']').toString();
    }

    static String numbers(List<Double> v) {
        return numbers(v.stream().mapToDouble(Double::doubleValue).toArray());
    }

    static String strings(List<String> v) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < v.size(); i++) s.append(i > 0 ? ", " : "").append(Json.quote(v.get(i)));
        return s.append(']').toString();
    }

    /** The best epoch-end test accuracy of a curve (for the report). */
    static double bestTestAcc(List<Trainer.EpochResult> curve) {
        return curve.stream().mapToDouble(Trainer.EpochResult::testAcc).max().orElse(0);
    }
}
