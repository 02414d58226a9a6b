package io.featurefuse.fusion;

import io.featurefuse.engine.DType;
import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.models.Backbone;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Linear centred kernel alignment (Kornblith et al. 2019) between two sets of features of the same
 * n inputs: CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with K = X X^T, L = Y Y^T on flattened
 * features. Up to {@link #FULL_LIMIT} inputs the biased estimator on centred Grams is used (the
 * paper's); beyond, minibatch CKA (Nguyen et al. 2021): the unbiased HSIC estimator averaged over
 * minibatches, so memory stays O(batch^2) whatever n is. 1 means the same representation up to
 * rotation and scale, 0 none shared.
 */
public final class Cka {
    public static final int FULL_LIMIT = 1024, MINIBATCH = 256;

    private Cka() {}

    /** CKA of features x [n, ...] and y [n, ...] (flattened per input). */
    public static double linear(Tensor x, Tensor y) {
        if (x.size(0) != y.size(0)) throw new IllegalArgumentException("CKA needs features of the same inputs: " + x.size(0) + " vs " + y.size(0) + " rows");
        int n = x.size(0);
        if (n < 4) throw new IllegalArgumentException("CKA needs at least 4 inputs, not " + n);
        if (n <= FULL_LIMIT) return fromGrams(List.<double[][]>of(gram(x)), List.<double[][]>of(gram(y)), false);
        List<double[][]> gx = new ArrayList<>(), gy = new ArrayList<>();
        for (int s = 0; s + MINIBATCH <= n; s += MINIBATCH) {
            gx.add(gram(x.narrow(0, s, MINIBATCH)));
            gy.add(gram(y.narrow(0, s, MINIBATCH)));
        }
        return fromGrams(gx, gy, true);
    }

    /** The Gram matrix X X^T of flattened rows, in float64. */
    static double[][] gram(Tensor x) {
        int n = x.size(0);
        try (var off = GradMode.off()) {
            Tensor f = x.reshape(n, -1).to(DType.F32);
            double[] g = f.matmul(f.transpose(0, 1)).toArray();
            double[][] out = new double[n][n];
            for (int i = 0; i < n; i++) System.arraycopy(g, i * n, out[i], 0, n);
            return out;
        }
    }

    /** CKA from matching lists of Grams (one pair per minibatch): matrix's sums for a single pair of taps. */
    static double fromGrams(List<double[][]> kx, List<double[][]> ky, boolean unbiased) {
        double[][] xy = new double[1][1];
        double[] xx = new double[1], yy = new double[1];
        for (int i = 0; i < kx.size(); i++) add(List.<double[][]>of(kx.get(i)), List.<double[][]>of(ky.get(i)), unbiased, xy, xx, yy);
        return ratio(xy[0][0], xx[0], yy[0]);
    }

    /** CKA from its summed HSIC terms. */
    private static double ratio(double xy, double xx, double yy) {
        if (!(xx > 0) || !(yy > 0)) return 0; // a constant representation shares nothing measurable
        return xy / Math.sqrt(xx * yy);
    }

    /** tr(K H L H) / (n-1)^2 with H the centring matrix (the scale cancels in CKA). */
    static double hsicBiased(double[][] k, double[][] l) {
        double[][] kc = centre(k), lc = centre(l);
        double s = 0;
        for (int i = 0; i < k.length; i++) for (int j = 0; j < k.length; j++) s += kc[i][j] * lc[i][j];
        return s;
    }

    private static double[][] centre(double[][] k) {
        int n = k.length;
        double[] row = new double[n];
        double all = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) row[i] += k[i][j];
            all += row[i];
            row[i] /= n;
        }
        all /= (double) n * n;
        double[][] c = new double[n][n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) c[i][j] = k[i][j] - row[i] - row[j] + all; // K symmetric
        return c;
    }

    /** Song et al. (2012): the unbiased HSIC estimator on Grams with zeroed diagonals. */
    static double hsicUnbiased(double[][] k, double[][] l) {
        int n = k.length;
        double trace = 0, sumK = 0, sumL = 0, cross = 0;
        double[] rowK = new double[n], rowL = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                if (i == j) continue;
                trace += k[i][j] * l[j][i];
                rowK[i] += k[i][j];
                rowL[i] += l[i][j];
            }
        for (int i = 0; i < n; i++) {
            sumK += rowK[i];
            sumL += rowL[i];
            cross += rowK[i] * rowL[i]; // 1^T K L 1 with K, L symmetric
        }
        return (trace + sumK * sumL / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * cross) / (n * (n - 3.0));
    }

    /**
     * The CKA matrix over every tap of a (rows) and of b (columns), on the same images [n, C, H, W],
     * the models run in batches of {@code batch}. Beyond FULL_LIMIT images, each minibatch's features
     * are made, reduced to their Grams and let go before the next minibatch's are made; up to it,
     * the full Grams are made a tap at a time. Either way only one minibatch's features, or one
     * tap's, are held at once: holding every tap's features of every image (as this did) took
     * ~100 KB an image for the reference models, and `fuse inspect --samples 2000` ran out of the
     * launcher's 600 MB heap.
     */
    public static double[][] matrix(Backbone a, Backbone b, Tensor images, int batch) {
        int n = images.size(0);
        List<String> tapsA = names(a), tapsB = names(b);
        double[][] xy = new double[tapsA.size()][tapsB.size()];
        double[] xx = new double[tapsA.size()], yy = new double[tapsB.size()];
        if (n > FULL_LIMIT) {
            for (int s = 0; s + MINIBATCH <= n; s += MINIBATCH) {
                Tensor part = images.narrow(0, s, MINIBATCH);
                add(grams(a, tapsA, part, batch), grams(b, tapsB, part, batch), true, xy, xx, yy);
            }
        } else {
            List<double[][]> ka = new ArrayList<>(), kb = new ArrayList<>();
            for (String t : tapsA) ka.add(grams(a, List.of(t), images, batch).getFirst());
            for (String t : tapsB) kb.add(grams(b, List.of(t), images, batch).getFirst());
            add(ka, kb, false, xy, xx, yy);
        }
        double[][] out = new double[tapsA.size()][tapsB.size()];
        for (int i = 0; i < out.length; i++)
            for (int j = 0; j < out[i].length; j++) out[i][j] = ratio(xy[i][j], xx[i], yy[j]);
        return out;
    }

    private static List<String> names(Backbone m) {
        return m.taps().stream().map(t -> t.name()).toList();
    }

    /** Adds one set of Grams' HSIC terms (a minibatch's, or the full ones) to the sums for every pair of taps. */
    private static void add(List<double[][]> ka, List<double[][]> kb, boolean unbiased, double[][] xy, double[] xx, double[] yy) {
        for (int i = 0; i < ka.size(); i++) xx[i] += hsic(ka.get(i), ka.get(i), unbiased);
        for (int j = 0; j < kb.size(); j++) yy[j] += hsic(kb.get(j), kb.get(j), unbiased);
        for (int i = 0; i < ka.size(); i++)
            for (int j = 0; j < kb.size(); j++) xy[i][j] += hsic(ka.get(i), kb.get(j), unbiased);
    }

    private static double hsic(double[][] k, double[][] l, boolean unbiased) {
        return unbiased ? hsicUnbiased(k, l) : hsicBiased(k, l);
    }

    /** The Grams of m's named taps on images, in that order (the model run in eval mode, in batches). */
    private static List<double[][]> grams(Backbone m, List<String> taps, Tensor images, int batch) {
        boolean training = m.isTraining();
        m.eval();
        Map<String, List<Tensor>> parts = new LinkedHashMap<>();
        try (var off = GradMode.off()) {
            for (int s = 0; s < images.size(0); s += batch) {
                Map<String, Tensor> f = m.features(images.narrow(0, s, Math.min(batch, images.size(0) - s)), taps);
                f.forEach((k, v) -> parts.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
            }
        } finally {
            if (training) m.train();
        }
        List<double[][]> out = new ArrayList<>();
        for (String t : taps) {
            List<Tensor> v = parts.get(t);
            out.add(gram(v.size() == 1 ? v.getFirst() : Tensor.concat(v, 0)));
        }
        return out;
    }

    /** A sentence on what a CKA value suggests for fusion. */
    public static String reading(double cka) {
        if (cka >= 0.8) return String.format(java.util.Locale.ROOT, "CKA %.2f: the two maps encode much the same; fusing them may add little beyond either alone", cka);
        if (cka >= 0.4) return String.format(java.util.Locale.ROOT, "CKA %.2f: partly shared, partly complementary features; a learned fusion (weighted, attention) can pick what helps", cka);
        return String.format(java.util.Locale.ROOT, "CKA %.2f: the models see the images differently; fusion has the most to gain, and concat or attention usually use it best", cka);
    }
}
