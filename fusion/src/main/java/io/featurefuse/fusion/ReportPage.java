package io.featurefuse.fusion;

import io.featurefuse.nn.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * report.html: one self-contained page (inline SVG and CSS, no scripts, nothing fetched) with the
 * accuracy of every candidate (bars with ±1 std error bars), the test-accuracy curves, the CKA
 * heat map between the two backbones' taps, and the learned fusion weights.
 */
public final class ReportPage {
    private static final String[] COLOURS = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
            "#9c755f", "#bab0ac"};

    private ReportPage() {}

    public static void write(Experiment.Result r, Path file) throws IOException {
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>featurefuse compare</title>\n<style>")
                .append("body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}h1{font-size:1.5em}")
                .append("h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse}")
                .append("td,th{padding:3px 10px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}")
                .append(".best{font-weight:bold}.note{color:#555}svg text{font:12px system-ui,sans-serif}</style></head><body>\n");
        Experiment.Settings s = r.settings();
        h.append("<h1>Which fusion works best: ").append(esc(s.a().toString())).append(" + ").append(esc(s.b().toString())).append("</h1>\n");
        h.append("<p class=\"note\">").append(s.recipe().epochs()).append(s.recipe().epochs() == 1 ? " epoch, " : " epochs, ").append(s.seeds()).append(s.seeds() == 1 ? " seed" : " seeds")
                .append(", batch ").append(s.recipe().batch()).append(", ").append(esc(s.recipe().optimizer())).append(" lr ").append(s.recipe().lr())
                .append(s.freeze() ? ", backbones frozen" : "").append(". Taps: A.").append(esc(s.tapA())).append(", B.").append(esc(s.tapB()))
                .append(". Alignment: ").append(esc(r.plan())).append("</p>\n");
        Experiment.Outcome best = r.best();
        h.append("<p><b>Best: ").append(esc(best.label())).append(String.format(Locale.ROOT, "</b>, test accuracy %.4f", best.testAcc())).append("</p>\n");
        table(h, r);
        h.append("<h2>Test accuracy</h2>\n");
        bars(h, r.outcomes());
        h.append("<h2>Training curves (test accuracy after each epoch, first seed)</h2>\n");
        curves(h, r.outcomes());
        h.append("<h2>How alike are the two models' features (linear CKA)</h2>\n");
        heatmap(h, r);
        h.append("<h2>What the fusions learned</h2>\n");
        learned(h, r.outcomes());
        h.append("</body></html>\n");
        Files.writeString(file, h.toString());
    }

    /** The results table; the spread over seeds only where there are several (one seed has none, not a spread of 0). */
    private static void table(StringBuilder h, Experiment.Result r) {
        boolean spread = r.settings().seeds() > 1;
        h.append("<table><tr><th>strategy</th><th>test acc</th>").append(spread ? "<th>± std</th>" : "")
                .append("<th>params</th><th>MFLOP/img</th><th>train img/s</th><th>train time (s)</th></tr>\n");
        for (Experiment.Outcome o : r.outcomes())
            h.append(String.format(Locale.ROOT, "<tr%s><td>%s</td><td>%.4f</td>%s<td>%,d</td><td>%.1f</td><td>%.0f</td><td>%.0f</td></tr>%n",
                    o == r.best() ? " class=\"best\"" : "", esc(o.label()), o.testAcc(),
                    spread ? String.format(Locale.ROOT, "<td>%.4f</td>", o.testAccStd()) : "", o.params(), o.flops() / 1e6, o.trainImgPerS(), o.seconds()));
        h.append("</table>\n");
    }

    private static void bars(StringBuilder h, List<Experiment.Outcome> os) {
        double lo = 1, hi = 0;
        for (Experiment.Outcome o : os) {
            lo = Math.min(lo, o.testAcc() - o.testAccStd());
            hi = Math.max(hi, o.testAcc() + o.testAccStd());
        }
        lo = Math.max(0, Math.floor((lo - 0.02) * 50) / 50);
        hi = Math.min(1, Math.ceil((hi + 0.005) * 100) / 100);
        int rowH = 26, left = 230, width = 640, height = os.size() * rowH + 40;
        h.append(String.format(Locale.ROOT, "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"test accuracy per strategy\">%n", left + width + 80, height));
        for (int t = 0; t <= 4; t++) {
            double v = lo + (hi - lo) * t / 4;
            double x = left + width * t / 4.0;
            h.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"10\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.3f</text>%n",
                    x, x, height - 25, x, height - 8, v));
        }
        for (int i = 0; i < os.size(); i++) {
            Experiment.Outcome o = os.get(i);
            double y = 12 + i * rowH, w = width * (o.testAcc() - lo) / (hi - lo);
            h.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>", left - 8, y + 15, esc(o.label())));
            h.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"18\" fill=\"%s\"/>", left, y + 2, Math.max(0, w), COLOURS[i % COLOURS.length]));
            if (o.testAccStd() > 0) {
                double x0 = left + width * (o.testAcc() - o.testAccStd() - lo) / (hi - lo), x1 = left + width * (o.testAcc() + o.testAccStd() - lo) / (hi - lo);
                h.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>", x0, y + 11, x1, y + 11));
                h.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>",
                        x0, y + 6, x0, y + 16, x1, y + 6, x1, y + 16));
            }
            h.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\">%.4f</text>%n", left + Math.max(0, w) + 6 + (o.testAccStd() > 0 ? width * o.testAccStd() / (hi - lo) : 0), y + 15, o.testAcc()));
        }
        h.append("</svg>\n");
    }

    private static void curves(StringBuilder h, List<Experiment.Outcome> os) {
        int epochs = 0;
        double lo = 1, hi = 0;
        for (Experiment.Outcome o : os) {
            epochs = Math.max(epochs, o.curve().size());
            for (Trainer.EpochResult e : o.curve()) {
                lo = Math.min(lo, e.testAcc());
                hi = Math.max(hi, e.testAcc());
            }
        }
        lo = Math.max(0, Math.floor(lo * 20) / 20);
        hi = Math.min(1, Math.ceil(hi * 50) / 50 + 0.01);
        int left = 50, top = 10, width = 620, height = 280;
        h.append(String.format(Locale.ROOT, "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"test accuracy per epoch\">%n", left + width + 260, height + 50));
        for (int t = 0; t <= 4; t++) {
            double v = lo + (hi - lo) * t / 4, y = top + height - height * t / 4.0;
            h.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>%n",
                    left, y, left + width, y, left - 5, y + 4, v));
        }
        for (int e = 1; e <= epochs; e++) {
            double x = left + (epochs == 1 ? width / 2.0 : width * (e - 1) / (double) (epochs - 1));
            h.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>", x, top + height + 18, e));
        }
        h.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>%n", left + width / 2, top + height + 38));
        for (int i = 0; i < os.size(); i++) {
            List<Trainer.EpochResult> c = os.get(i).curve();
            StringBuilder pts = new StringBuilder();
            for (int e = 0; e < c.size(); e++) {
                double x = left + (epochs == 1 ? width / 2.0 : width * e / (double) (epochs - 1));
                double y = top + height - height * (c.get(e).testAcc() - lo) / (hi - lo);
                pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
                h.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", x, y, COLOURS[i % COLOURS.length]));
            }
            h.append(String.format(Locale.ROOT, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>", pts.toString().strip(), COLOURS[i % COLOURS.length]));
            h.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>%n",
                    left + width + 20, top + 6 + i * 20, COLOURS[i % COLOURS.length], left + width + 38, top + 17 + i * 20, esc(os.get(i).label())));
        }
        h.append("</svg>\n");
    }

    private static void heatmap(StringBuilder h, Experiment.Result r) {
        double[][] m = r.cka();
        int cell = 56, left = 120, top = 30;
        h.append(String.format(Locale.ROOT, "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"CKA between taps\">%n",
                left + cell * r.tapsB().size() + 20, top + cell * r.tapsA().size() + 40));
        for (int j = 0; j < r.tapsB().size(); j++)
            h.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">B.%s</text>", left + j * cell + cell / 2, top - 8, esc(r.tapsB().get(j))));
        double best = -1;
        int bi = 0, bj = 0;
        for (int i = 0; i < m.length; i++) {
            h.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">A.%s</text>", left - 8, top + i * cell + cell / 2 + 4, esc(r.tapsA().get(i))));
            for (int j = 0; j < m[i].length; j++) {
                double v = Math.max(0, Math.min(1, m[i][j]));
                int shade = (int) Math.round(255 - 200 * v);
                h.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,255)\" stroke=\"#fff\"/>"
                                + "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%.2f</text>%n",
                        left + j * cell, top + i * cell, cell, cell, shade, shade, left + j * cell + cell / 2, top + i * cell + cell / 2 + 4,
                        v > 0.55 ? "#fff" : "#222", m[i][j]));
                if (m[i][j] > best) {
                    best = m[i][j];
                    bi = i;
                    bj = j;
                }
            }
        }
        h.append("</svg>\n");
        int fi = r.tapsA().indexOf(r.settings().tapA()), fj = r.tapsB().indexOf(r.settings().tapB());
        if (fi >= 0 && fj >= 0)
            h.append("<p>Fused taps A.").append(esc(r.settings().tapA())).append(" and B.").append(esc(r.settings().tapB())).append(": ")
                    .append(esc(Cka.reading(m[fi][fj]))).append(".</p>\n");
        h.append(String.format(Locale.ROOT, "<p class=\"note\">Most alike: A.%s and B.%s (%.2f). Computed on test images with the trained single backbones when they were run.</p>%n",
                esc(r.tapsA().get(bi)), esc(r.tapsB().get(bj)), best));
    }

    private static void learned(StringBuilder h, List<Experiment.Outcome> os) {
        boolean any = false;
        for (Experiment.Outcome o : os)
            for (Map.Entry<String, double[]> w : o.learnedWeights().entrySet()) {
                any = true;
                double[] v = w.getValue();
                double mean = 0, min = Double.MAX_VALUE, max = -Double.MAX_VALUE;
                for (double x : v) {
                    mean += x / v.length;
                    min = Math.min(min, x);
                    max = Math.max(max, x);
                }
                h.append(String.format(Locale.ROOT, "<p><b>%s</b>, %s: %s</p>%n", esc(o.label()), esc(w.getKey()),
                        v.length <= 4 ? esc(ResultsFiles.numbers(v)) : String.format(Locale.ROOT, "%d values, mean %.3f, min %.3f, max %.3f", v.length, mean, min, max)));
                if (v.length > 4) strip(h, v);
            }
        if (!any) h.append("<p class=\"note\">No strategy with learned mixing weights was run.</p>\n");
    }

    /** One thin bar per value, 0..1, for per-channel weights. */
    private static void strip(StringBuilder h, double[] v) {
        int bw = Math.max(2, Math.min(8, 640 / v.length)), height = 60;
        h.append(String.format(Locale.ROOT, "<svg width=\"%d\" height=\"%d\">", bw * v.length + 2, height + 2));
        for (int i = 0; i < v.length; i++) {
            double x = Math.max(0, Math.min(1, v[i]));
            h.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"#4e79a7\"/>", i * bw, height * (1 - x), bw - 1, height * x));
        }
        h.append("</svg>\n");
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
