package io.featurefuse.cli;

import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Tensor;
import io.featurefuse.engine.io.Json;
import io.featurefuse.fusion.Aligner;
import io.featurefuse.fusion.Cka;
import io.featurefuse.fusion.MapShape;
import io.featurefuse.fusion.Strategies;
import io.featurefuse.fusion.TwoStream;
import io.featurefuse.nn.data.Augment;
import io.featurefuse.nn.data.DataLoader;
import io.featurefuse.nn.models.Backbone;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/** fuse inspect: how two models' feature maps compare, before any training of a fusion. */
final class InspectCommand {
    private InspectCommand() {}

    static int run(List<String> args, PrintStream out) throws IOException {
        Options o = Options.parse("inspect", args, Set.of("--a", "--b", "--models", "--tap-a", "--tap-b", "--data", "--samples", "--channels",
                "--align", "--up", "--down", "--threads"), Set.of("--json"));
        Common.threads(o);
        String[] ab = Common.modelPair(o, "inspect");
        DataSource data = DataSource.open(o.string("--data", null), "inspect");
        int c = data.test().channels(), h = data.test().height(), w = data.test().width();
        Backbone a = backbone(ab[0], c, 1), b = backbone(ab[1], c, 2);
        String tapA = o.string("--tap-a", a.output().name()), tapB = o.string("--tap-b", b.output().name());
        try {
            a.tap(tapA);
            b.tap(tapB);
        } catch (IllegalArgumentException e) {
            throw new UsageException("inspect: " + e.getMessage());
        }
        Map<String, MapShape> shapesA = shapes(a, c, h, w), shapesB = shapes(b, c, h, w);
        int channels = o.integer("--channels", 128, 0, 4096);
        Aligner.Up up = CompareCommand.choice("inspect", "--up", o.string("--up", "bilinear"), Aligner.Up.class);
        Aligner.Down down = CompareCommand.choice("inspect", "--down", o.string("--down", "avgpool"), Aligner.Down.class);
        String policy = o.string("--align", "to-larger");
        Map<String, long[]> cost = new LinkedHashMap<>();
        Map<String, String> plans = new LinkedHashMap<>();
        for (String s : Strategies.names()) {
            TwoStream m;
            try {
                m = new TwoStream(backbone(ab[0], c, 1), tapA, backbone(ab[1], c, 2), tapB, s, policy, up, down, channels,
                        data.test().classes().size(), false, h, w, new SplittableRandom(3));
            } catch (IllegalArgumentException e) {
                throw new UsageException("inspect: " + e.getMessage());
            }
            long fusionParams = m.parameterCount(false) - m.a().parameterCount(false) - m.b().parameterCount(false);
            cost.put(s, new long[] {m.parameterCount(false), fusionParams, m.flopsPerInput(c, h, w)});
            plans.putIfAbsent(Strategies.needs(s).name(), m.plan().description());
        }
        int n = Math.min(o.integer("--samples", 512, 8, 100_000), data.test().size());
        DataLoader sample = new DataLoader(data.test().head(n), n, false, 0, data.mean(), data.std(), Augment.NONE);
        double[][] cka = Cka.matrix(a, b, sample.batch(0, sample.order(0), 0).images(), 256);
        List<String> tapsA = List.copyOf(shapesA.keySet()), tapsB = List.copyOf(shapesB.keySet());
        double fused = cka[tapsA.indexOf(tapA)][tapsB.indexOf(tapB)];
        if (o.flag("--json")) {
            out.println(json(ab, shapesA, shapesB, tapA, tapB, plans, cost, tapsA, tapsB, cka, fused, n));
            return 0;
        }
        out.printf(Locale.ROOT, "A %s: %,d parameters, %.1f MFLOP/image%n", ab[0], a.parameterCount(false), a.flopsPerInput(c, h, w) / 1e6);
        shapesA.forEach((k, v) -> out.printf("  tap %-8s %-12s stride %d%n", k, v, a.tap(k).stride()));
        out.printf(Locale.ROOT, "B %s: %,d parameters, %.1f MFLOP/image%n", ab[1], b.parameterCount(false), b.flopsPerInput(c, h, w) / 1e6);
        shapesB.forEach((k, v) -> out.printf("  tap %-8s %-12s stride %d%n", k, v, b.tap(k).stride()));
        out.println("alignment of A." + tapA + " and B." + tapB + " (policy " + policy + "):");
        plans.forEach((need, plan) -> out.println("  for strategies needing " + need.toLowerCase().replace('_', ' ') + ": " + plan));
        out.printf("%-18s %12s %14s %12s  %s%n", "strategy", "params", "fusion params", "MFLOP/img", "what it does");
        cost.forEach((s, v) -> out.printf(Locale.ROOT, "%-18s %,12d %,14d %12.1f  %s%n", s, v[0], v[1], v[2] / 1e6, Strategies.about(s)));
        out.printf("linear CKA on %d test images (rows A's taps, columns B's):%n%-10s", n, "");
        for (String t : tapsB) out.printf("%9s", t);
        out.println();
        for (int i = 0; i < tapsA.size(); i++) {
            out.printf("%-10s", tapsA.get(i));
            for (double v : cka[i]) out.printf(Locale.ROOT, "%9.3f", v);
            out.println();
        }
        out.println("reading: A." + tapA + " vs B." + tapB + ": " + Cka.reading(fused));
        if (untrained(ab)) out.println(UNTRAINED);
        return 0;
    }

    static final String UNTRAINED = "note: a model without weights is untrained (random weights), and random conv features mostly mirror the"
            + " input images, so CKA runs high; pass trained weights (--a resnet_a:a.safetensors from fuse train) to compare what the models learned";

    private static boolean untrained(String[] ab) {
        return io.featurefuse.fusion.Experiment.ModelRef.parse(ab[0]).weights() == null || io.featurefuse.fusion.Experiment.ModelRef.parse(ab[1]).weights() == null;
    }

    private static Backbone backbone(String text, int channels, long seed) throws IOException {
        var ref = io.featurefuse.fusion.Experiment.ModelRef.parse(text);
        if (ref.weights() != null) Common.existingFile("inspect", "weights file", ref.weights());
        try {
            return io.featurefuse.fusion.Experiment.backbone(ref, channels, new SplittableRandom(seed));
        } catch (IllegalArgumentException e) {
            throw new UsageException("inspect: " + e.getMessage());
        }
    }

    private static Map<String, MapShape> shapes(Backbone m, int c, int h, int w) {
        Map<String, MapShape> out = new LinkedHashMap<>();
        boolean training = m.isTraining();
        m.eval();
        try (var off = GradMode.off()) {
            m.features(Tensor.zeros(1, c, h, w), m.taps().stream().map(t -> t.name()).toList())
                    .forEach((k, v) -> out.put(k, new MapShape(v.size(1), v.size(2), v.size(3))));
        } finally {
            if (training) m.train();
        }
        return out;
    }

    private static String json(String[] ab, Map<String, MapShape> sa, Map<String, MapShape> sb, String tapA, String tapB, Map<String, String> plans,
                               Map<String, long[]> cost, List<String> tapsA, List<String> tapsB, double[][] cka, double fused, int n) {
        StringBuilder s = new StringBuilder("{");
        s.append("\"a\":").append(Json.quote(ab[0])).append(",\"b\":").append(Json.quote(ab[1])).append(",\"tap_a\":").append(Json.quote(tapA))
                .append(",\"tap_b\":").append(Json.quote(tapB)).append(",\"taps_a\":{");
        int i = 0;
        for (var e : sa.entrySet()) s.append(i++ > 0 ? "," : "").append(Json.quote(e.getKey())).append(':').append(Json.quote(e.getValue().toString()));
        s.append("},\"taps_b\":{");
        i = 0;
        for (var e : sb.entrySet()) s.append(i++ > 0 ? "," : "").append(Json.quote(e.getKey())).append(':').append(Json.quote(e.getValue().toString()));
        s.append("},\"alignment\":{");
        i = 0;
        for (var e : plans.entrySet()) s.append(i++ > 0 ? "," : "").append(Json.quote(e.getKey().toLowerCase())).append(':').append(Json.quote(e.getValue()));
        s.append("},\"strategies\":[");
        i = 0;
        for (var e : cost.entrySet())
            s.append(i++ > 0 ? "," : "").append(String.format(Locale.ROOT, "{\"strategy\":%s,\"params\":%d,\"fusion_params\":%d,\"flops\":%d}",
                    Json.quote(e.getKey()), e.getValue()[0], e.getValue()[1], e.getValue()[2]));
        s.append("],\"cka\":{\"samples\":").append(n).append(",\"taps_a\":[");
        for (int k = 0; k < tapsA.size(); k++) s.append(k > 0 ? "," : "").append(Json.quote(tapsA.get(k)));
        s.append("],\"taps_b\":[");
        for (int k = 0; k < tapsB.size(); k++) s.append(k > 0 ? "," : "").append(Json.quote(tapsB.get(k)));
        s.append("],\"matrix\":[");
        for (int r = 0; r < cka.length; r++) {
            s.append(r > 0 ? "," : "").append('[');
            for (int k = 0; k < cka[r].length; k++) s.append(k > 0 ? "," : "").append(String.format(Locale.ROOT, "%.6f", cka[r][k]));
            s.append(']');
        }
        s.append(String.format(Locale.ROOT, "],\"fused_taps\":%.6f},\"reading\":%s", fused, Json.quote(Cka.reading(fused))));
        if (untrained(ab)) s.append(",\"note\":").append(Json.quote(UNTRAINED));
        s.append('}');
        return s.toString();
    }
}
