package io.featurefuse.nn.train;

import io.featurefuse.engine.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Classification metrics accumulated batch by batch: accuracy, top-k accuracy, mean
 * cross-entropy, per-class accuracy and the confusion matrix (rows: true class, columns: predicted).
 */
public final class Evaluation {
    private final int classes, topK;
    private final long[][] confusion;
    private long count, topKHits;
    private double lossSum;

    public Evaluation(int classes, int topK) {
        this.classes = classes;
        this.topK = Math.min(topK, classes);
        this.confusion = new long[classes][classes];
    }

    /** Adds a batch: logits [B, classes], labels, and the batch's mean loss. */
    public void add(Tensor logits, int[] labels, double meanLoss) {
        if (logits.rank() != 2 || logits.size(1) != classes || logits.size(0) != labels.length)
            throw new IllegalArgumentException("evaluation: logits " + logits.shape() + " do not match " + labels.length + " labels of " + classes + " classes");
        float[] z = logits.toFloatArray();
        for (int i = 0; i < labels.length; i++) {
            int best = 0, above = 0;
            float truth = z[i * classes + labels[i]];
            for (int c = 0; c < classes; c++) {
                float v = z[i * classes + c];
                if (v > z[i * classes + best]) best = c;
                if (v > truth) above++;
            }
            confusion[labels[i]][best]++;
            if (above < topK) topKHits++;
        }
        count += labels.length;
        lossSum += meanLoss * labels.length;
    }

    public long count() { return count; }

    public double accuracy() {
        long hits = 0;
        for (int c = 0; c < classes; c++) hits += confusion[c][c];
        return count == 0 ? 0 : hits / (double) count;
    }

    public double topKAccuracy() { return count == 0 ? 0 : topKHits / (double) count; }

    public int topK() { return topK; }

    public double meanLoss() { return count == 0 ? 0 : lossSum / count; }

    public double[] perClassAccuracy() {
        double[] out = new double[classes];
        for (int c = 0; c < classes; c++) {
            long n = 0;
            for (long v : confusion[c]) n += v;
            out[c] = n == 0 ? Double.NaN : confusion[c][c] / (double) n;
        }
        return out;
    }

    public long[][] confusion() {
        long[][] out = new long[classes][];
        for (int c = 0; c < classes; c++) out[c] = confusion[c].clone();
        return out;
    }

    /** A text report: accuracy, loss, per-class accuracy and the confusion matrix. */
    public String report(List<String> classNames) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "accuracy %.4f  top-%d %.4f  mean loss %.4f  (%d images)%n", accuracy(), topK, topKAccuracy(), meanLoss(), count));
        double[] pc = perClassAccuracy();
        List<String> names = new ArrayList<>(classNames);
        int width = names.stream().mapToInt(String::length).max().orElse(5);
        s.append("per class:\n");
        for (int c = 0; c < classes; c++) s.append(String.format(Locale.ROOT, "  %-" + width + "s %.4f%n", names.get(c), pc[c]));
        s.append("confusion (rows true, columns predicted):\n");
        for (int c = 0; c < classes; c++) {
            s.append(String.format("  %-" + width + "s", names.get(c)));
            for (long v : confusion[c]) s.append(String.format(" %5d", v));
            s.append('\n');
        }
        return s.toString();
    }
}
