package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Batch normalisation over [N, C, S] (S = the spatial size) in two kernels per direction:
 * per-channel statistics, then one fused multiply-add per element; backward needs two sums per
 * channel and one more pass. Statistics are accumulated in float64 in a fixed order (each plane's
 * sum and squared deviations from its own mean, then combined per channel), so they do not depend
 * on the thread count. float32 kernels vectorise along planes and run parallel over ranges of
 * planes; the float64 ones are the reference. Every pass is bound by memory, so each reads as few
 * tensors as it can: x once for the statistics, and no saved output for a fused ReLU's mask.
 *
 * <p>Forward: y = (x - mean) * invstd * gamma + beta. Backward (training, batch statistics,
 * M = N*S values per channel): dbeta = sum dy, dgamma = sum dy * xhat,
 * dx = gamma * invstd / M * (M dy - dbeta - xhat dgamma); in evaluation dx = dy * gamma * invstd.
 */
public final class BatchNormKernels {
    private BatchNormKernels() {}

    /**
     * Per-channel mean and biased variance of x (N, C, S) in one pass over x: each plane is
     * summed, then its squared deviations from its own mean are summed while it is still in
     * cache (planes in ranges, read in memory order); then per channel, in image order, the
     * planes' sums give the mean and their deviations are moved to it exactly (see
     * statisticsOfPlanes). Two passes over the whole of x (its mean first) read a tensor larger than
     * the caches twice from memory. A task per channel read its N planes one image (C planes)
     * apart, a pattern the prefetchers follow worse than one stream.
     */
    public static void statistics(float[] x, int off, int n, int c, int s, double[] mean, double[] var) {
        double[] sums = planeScratch(n * c, 0), deviations = planeScratch(n * c, 1);
        Parallel.forRanges(n * c, 2 * s, (t0, t1) -> planeStatistics(x, off, t0, t1, s, sums, deviations));
        statisticsOfPlanes(sums, deviations, n, c, s, mean, var);
    }

    /**
     * The first half of {@link #statistics}: for planes t in [t0, t1) of x (s values each, plane t
     * at off + t s), sums[t] = its sum and deviations[t] = its squared deviations about its own
     * float mean. A producer of x calls it on planes it has just written, while they are in its
     * cache (see Conv2dKernels.Written), and {@link #statisticsOfPlanes} finishes: the same values
     * as statistics, to the bit, without its pass over x.
     */
    public static void planeStatistics(float[] x, int off, int t0, int t1, int s, double[] sums, double[] deviations) {
        for (int t = t0; t < t1; t++) {
            double sum = sum(x, off + t * s, s);
            sums[t] = sum;
            deviations[t] = squaredDeviation(x, off + t * s, s, planeMean(sum, s));
        }
    }


    /** The float about which a plane's squared deviations are summed. */
    private static float planeMean(double sum, int s) {
        return (float) (sum / s);
    }

    /**
     * mean[ch] and var[ch] per channel from every plane's {@link #planeStatistics} (n images, c
     * channels, s values a plane): each plane's sum S and squared deviations D about its float mean
     * m give, over the plane, sum (x - mu)^2 = D + 2 (m - mu)(S - s m) + s (m - mu)^2 for the channel's
     * mean mu, exactly; in float64, images in order.
     */
    public static void statisticsOfPlanes(double[] sums, double[] deviations, int n, int c, int s, double[] mean, double[] var) {
        double count = (double) n * s;
        sumByChannel(sums, n, c, mean);
        for (int ch = 0; ch < c; ch++) {
            double mu = mean[ch] / count, sq = 0;
            for (int i = 0; i < n; i++) {
                double sum = sums[i * c + ch], m = planeMean(sum, s), shift = m - mu;
                sq += deviations[i * c + ch] + 2 * shift * (sum - s * m) + s * shift * shift;
            }
            mean[ch] = mu;
            var[ch] = sq / count;
        }
    }

    /** A double per plane, the calling thread's own (the tasks that fill it write disjoint planes); three slots. */
    private static final ThreadLocal<double[][]> PLANES = ThreadLocal.withInitial(() -> new double[][] {new double[0], new double[0], new double[0]});

    static double[] planeScratch(int size, int slot) {
        double[][] held = PLANES.get();
        if (held[slot].length < size) held[slot] = new double[size];
        return held[slot];
    }

    /** out[ch] = the sum over images i, in order, of planes[i C + ch]. */
    static void sumByChannel(double[] planes, int n, int c, double[] out) {
        for (int ch = 0; ch < c; ch++) {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += planes[i * c + ch];
            out[ch] = sum;
        }
    }

    public static void statistics(double[] x, int off, int n, int c, int s, double[] mean, double[] var) {
        for (int ch = 0; ch < c; ch++) {
            double sum = 0;
            for (int i = 0; i < n; i++) for (int j = 0; j < s; j++) sum += x[off + (i * c + ch) * s + j];
            double m = sum / ((double) n * s), sq = 0;
            for (int i = 0; i < n; i++) for (int j = 0; j < s; j++) { double d = x[off + (i * c + ch) * s + j] - m; sq += d * d; }
            mean[ch] = m;
            var[ch] = sq / ((double) n * s);
        }
    }

    /**
     * y = (x - mean[ch]) * scale[ch] + beta[ch] per channel; with relu, max(0, .) in the same pass
     * (BN + ReLU). Planes in ranges (Parallel.forRanges). The mean is taken off before scaling,
     * as x * scale + (beta - mean * scale) would not be: where a channel's values nearly agree,
     * scale is large and those two terms cancel, losing float32 digits (seen: a property test
     * off by 3.4e-5 for two values per channel 5e-3 apart). The subtraction is free here: the
     * pass is bound by memory.
     */
    public static void affine(float[] y, float[] x, int off, int n, int c, int s, double[] mean, double[] scale, double[] beta, boolean relu) {
        Parallel.forRanges(n * c, 2 * s, (t0, t1) -> affinePlanes(y, x, off, t0, t1, c, s, mean, scale, beta, relu));
    }

    /** affine of planes [t0, t1) alone (plane t: image t / c, channel t % c), on the calling thread: a chunk of images' planes. */
    public static void affinePlanes(float[] y, float[] x, int off, int t0, int t1, int c, int s, double[] mean, double[] scale, double[] beta,
                                    boolean relu) {
        for (int t = t0; t < t1; t++)
            affinePlane(y, t * s, x, off + t * s, s, (float) mean[t % c], (float) scale[t % c], (float) beta[t % c], relu);
    }

    /** The s values of one plane: y[yAt + i] = (x[xAt + i] - m) * a + b, clamped at 0 with relu. */
    private static void affinePlane(float[] y, int yAt, float[] x, int xAt, int s, float m, float a, float b, boolean relu) {
        int i = 0;
        FloatVector mv = FloatVector.broadcast(F, m), av = FloatVector.broadcast(F, a), bv = FloatVector.broadcast(F, b);
        if (relu) {
            FloatVector zero = FloatVector.zero(F);
            for (int bound = F.loopBound(s); i < bound; i += L)
                FloatVector.fromArray(F, x, xAt + i).sub(mv).fma(av, bv).max(zero).intoArray(y, yAt + i);
            for (; i < s; i++) y[yAt + i] = Math.max(affine(x[xAt + i], m, a, b), 0f);
        } else {
            for (int bound = F.loopBound(s); i < bound; i += L)
                FloatVector.fromArray(F, x, xAt + i).sub(mv).fma(av, bv).intoArray(y, yAt + i);
            for (; i < s; i++) y[yAt + i] = affine(x[xAt + i], m, a, b);
        }
    }

    /** A pool's forward for one plane: pools plane t of its input, held in plane[0 ..), into the pool's output. */
    public interface PlanePool {
        void pool(float[] plane, int t);
    }

    /** A pool's backward for one plane: writes to plane[0 ..) the gradient the pool hands plane t of its input. */
    public interface PlaneSpread {
        void spread(float[] plane, int t);
    }

    /**
     * pool(relu(affine(x))) plane by plane (n c planes of s values): batch norm + ReLU then a pool, to
     * the bit (each plane is normalised as {@link #affine} does into this thread's scratch, which
     * stays in L1, and pooled there by the pool's own plane kernel), without writing the normalised
     * map to memory and reading it back.
     */
    public static void affineReluPooled(PlanePool pool, float[] x, int off, int n, int c, int s, double[] mean, double[] scale, double[] beta) {
        Parallel.forRanges(n * c, 2 * s, (t0, t1) -> {
            float[] plane = Parallel.grow(PLANE.get(), 0, s);
            for (int t = t0; t < t1; t++) {
                affinePlane(plane, 0, x, off + t * s, s, (float) mean[t % c], (float) scale[t % c], (float) beta[t % c], true);
                pool.pool(plane, t);
            }
        });
    }

    /** A plane of floats, the calling thread's own: a normalised plane, or a pool's gradient spread over one. */
    private static final ThreadLocal<float[][]> PLANE = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    private static float[] spread(PlaneSpread spread, float[] plane, int t) {
        spread.spread(plane, t);
        return plane;
    }

    /**
     * One value of the affine, (x - m) a + b, in the order every scalar path computes it: the
     * forward's tails and the backward's recomputed ReLU masks must agree to the bit.
     */
    private static float affine(float x, float m, float a, float b) {
        return (x - m) * a + b;
    }

    private static double affine(double x, double m, double a, double b) {
        return (x - m) * a + b;
    }

    public static void affine(double[] y, double[] x, int off, int n, int c, int s, double[] mean, double[] scale, double[] beta, boolean relu) {
        for (int t = 0; t < n * c; t++) {
            int ch = t % c;
            for (int i = 0; i < s; i++) {
                double v = affine(x[off + t * s + i], mean[ch], scale[ch], beta[ch]);
                y[t * s + i] = relu ? Math.max(v, 0.0) : v;
            }
        }
    }

    /**
     * The affine a fused ReLU followed, per channel: v = (x - mean) scale + shift, the values
     * {@link #affine} clamped. Backward takes the ReLU's mask from v's sign, recomputed from x
     * (which it reads anyway) with the same float operations in the same lanes as affine, so it
     * is the saved output's sign to the bit, without reading that output: one stream of the
     * activation fewer in each of backward's two passes (which are bound by memory).
     */
    public record ReluOf(double[] scale, double[] shift) {}

    /**
     * Per channel: sums[ch] = sum dy, dots[ch] = sum dy * (x - mean). With relu (else null) dy
     * counts only where the fused ReLU's input was above 0: the ReLU's backward done on the fly,
     * not as a tensor of its own.
     */
    public static void gradientSums(float[] dy, int dyOff, ReluOf relu, float[] x, int off, int n, int c, int s, double[] mean,
                                    double[] sums, double[] dots) {
        // One pass over each plane for both sums (two, with a horizontal sum each, measured ~4% of a training step);
        // planes in ranges, in memory order, then summed per channel in image order (see statistics)
        double[] planeSums = planeScratch(n * c, 0), planeDots = planeScratch(n * c, 1);
        Parallel.forRanges(n * c, 3 * s, (t0, t1) -> {
            for (int t = t0; t < t1; t++) planeGradientSums(dy, dyOff + t * s, relu, x, off + t * s, s, t % c, mean, planeSums, planeDots, t);
        });
        sumByChannel(planeSums, n, c, sums);
        sumByChannel(planeDots, n, c, dots);
    }

    /**
     * The per-plane terms of {@link #gradientSums} for the planes of images [n0, n1) alone, on the calling thread, into
     * planeSums and planeDots (n c each, plane t = image t / c, channel t % c): a chunk of a gradient made just before,
     * while it is in cache. {@link #gradientSumsOfPlanes} then sums them as gradientSums does, so these are its bits.
     */
    public static void gradientSumsOfImages(float[] dy, int dyOff, ReluOf relu, float[] x, int off, int n0, int n1, int c, int s, double[] mean,
                                            double[] planeSums, double[] planeDots) {
        for (int t = n0 * c; t < n1 * c; t++) planeGradientSums(dy, dyOff + t * s, relu, x, off + t * s, s, t % c, mean, planeSums, planeDots, t);
    }

    /** gradientSums' per-channel sums from its per-plane terms (all n c of them made, see gradientSumsOfImages). */
    public static void gradientSumsOfPlanes(double[] planeSums, double[] planeDots, int n, int c, double[] sums, double[] dots) {
        sumByChannel(planeSums, n, c, sums);
        sumByChannel(planeDots, n, c, dots);
    }

    /**
     * {@link #gradientSums} where the gradient arriving at the output is a pool's input gradient:
     * each plane's is spread into this thread's scratch by the pool's backward and summed as
     * gradientSums sums it, so the sums are the pool-then-BN ones to the bit, without that spread
     * gradient in memory.
     */
    public static void pooledGradientSums(PlaneSpread spread, ReluOf relu, float[] x, int off, int n, int c, int s, double[] mean,
                                          double[] sums, double[] dots) {
        double[] planeSums = planeScratch(n * c, 0), planeDots = planeScratch(n * c, 1);
        Parallel.forRanges(n * c, 2 * s, (t0, t1) -> {
            float[] plane = Parallel.grow(PLANE.get(), 0, s);
            for (int t = t0; t < t1; t++)
                planeGradientSums(spread(spread, plane, t), 0, relu, x, off + t * s, s, t % c, mean, planeSums, planeDots, t);
        });
        sumByChannel(planeSums, n, c, sums);
        sumByChannel(planeDots, n, c, dots);
    }

    /** planeSums[t] = sum dy and planeDots[t] = sum dy (x - mean[ch]) over one plane of s values (dy from dyAt, x from xAt), dy masked by relu. */
    private static void planeGradientSums(float[] dy, int dyAt, ReluOf relu, float[] x, int xAt, int s, int ch, double[] mean,
                                          double[] planeSums, double[] planeDots, int t) {
        int j = 0;
        float m = (float) mean[ch], ra = relu == null ? 0f : (float) relu.scale[ch], rb = relu == null ? 0f : (float) relu.shift[ch];
        double a = 0, b = 0;
        if (s >= L) {
            FloatVector mv = FloatVector.broadcast(F, m), av = FloatVector.broadcast(F, ra), bv = FloatVector.broadcast(F, rb);
            FloatVector sa = FloatVector.zero(F), sb = sa;
            for (int bound = F.loopBound(s); j < bound; j += L) {
                FloatVector xm = FloatVector.fromArray(F, x, xAt + j).sub(mv);
                FloatVector d = masked(FloatVector.fromArray(F, dy, dyAt + j), relu != null, xm, av, bv);
                sa = sa.add(d);
                sb = d.fma(xm, sb);
            }
            a = Simd.sumLanes(sa);
            b = Simd.sumLanes(sb);
        }
        for (; j < s; j++) {
            float xm = x[xAt + j] - m, d = relu == null || affine(x[xAt + j], m, ra, rb) > 0f ? dy[dyAt + j] : 0f;
            a += d;
            b += d * xm;
        }
        planeSums[t] = a;
        planeDots[t] = b;
    }

    /**
     * d, zeroed (with relu) in the lanes where xm a + b is not above 0: affinePlane's vector
     * expression before its clamp, so exactly the lanes where the output was 0 (or NaN).
     */
    private static FloatVector masked(FloatVector d, boolean relu, FloatVector xm, FloatVector a, FloatVector b) {
        return relu ? FloatVector.zero(F).blend(d, xm.fma(a, b).compare(VectorOperators.GT, 0f)) : d;
    }

    /** dy[i], or 0 where relu (when given) says the affine's value at x was not above 0 (the double affine's expression). */
    private static double gradient(double[] dy, int i, ReluOf relu, double x, double mean, int ch) {
        return relu == null || affine(x, mean, relu.scale[ch], relu.shift[ch]) > 0 ? dy[i] : 0.0;
    }

    public static void gradientSums(double[] dy, int dyOff, ReluOf relu, double[] x, int off, int n, int c, int s, double[] mean,
                                    double[] sums, double[] dots) {
        for (int ch = 0; ch < c; ch++) {
            double a = 0, b = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++) {
                    int p = (i * c + ch) * s + j;
                    double d = gradient(dy, dyOff + p, relu, x[off + p], mean[ch], ch);
                    a += d;
                    b += d * (x[off + p] - mean[ch]);
                }
            sums[ch] = a;
            dots[ch] = b;
        }
    }

    /** dx = dy * p[ch] + x * q[ch] + r[ch]: the training-mode input gradient, with coefficients per channel; dy masked by relu as in gradientSums. */
    public static void inputGradient(float[] dx, float[] dy, int dyOff, ReluOf relu, float[] x, int off, int n, int c, int s, double[] mean,
                                     double[] p, double[] q, double[] r) {
        Parallel.forRanges(n * c, 4 * s, (t0, t1) -> inputGradientPlanes(dx, 0, dy, dyOff, null, relu, x, off, t0, t1, c, s, mean, p, q, r));
    }

    /**
     * {@link #inputGradient} where the gradient arriving at the output is a pool's input gradient,
     * spread as in {@link #pooledGradientSums}: the same bits as the pool's backward then
     * inputGradient, without writing that gradient and reading it back.
     */
    public static void pooledInputGradient(float[] dx, PlaneSpread spread, ReluOf relu, float[] x, int off, int n, int c, int s, double[] mean,
                                           double[] p, double[] q, double[] r) {
        Parallel.forRanges(n * c, 2 * s, (t0, t1) -> inputGradientPlanes(dx, 0, null, 0, spread, relu, x, off, t0, t1, c, s, mean, p, q, r));
    }

    /**
     * inputGradient (spread null) or pooledInputGradient (dy null) of images [n0, n1) alone, on the calling thread, into dx
     * from 0: image n0's first plane first. The conv that made x asks for its output gradient so, chunk by chunk, while it
     * runs its own backward (Conv2dKernels.backwardOfChunks); same bits as the whole-batch passes.
     */
    public static void inputGradientOfImages(float[] dx, float[] dy, int dyOff, PlaneSpread spread, ReluOf relu, float[] x, int off, int n0, int n1,
                                             int c, int s, double[] mean, double[] p, double[] q, double[] r) {
        inputGradientPlanes(dx, -n0 * c * s, dy, dyOff, spread, relu, x, off, n0 * c, n1 * c, c, s, mean, p, q, r);
    }

    /** Planes [t0, t1) of the input gradient, plane t into dx from dxOff + t s; dy from dyOff, or each plane spread by spread (dy null). */
    private static void inputGradientPlanes(float[] dx, int dxOff, float[] dy, int dyOff, PlaneSpread spread, ReluOf relu, float[] x, int off,
                                            int t0, int t1, int c, int s, double[] mean, double[] p, double[] q, double[] r) {
        float[] plane = spread == null ? null : Parallel.grow(PLANE.get(), 0, s);
        for (int t = t0; t < t1; t++) {
            int ch = t % c;
            float m = (float) mean[ch], ra = relu == null ? 0f : (float) relu.scale[ch], rb = relu == null ? 0f : (float) relu.shift[ch];
            // a spread plane's index is dyOff + o + i with dyOff = -o: the plane's i
            float[] d = spread == null ? dy : spread(spread, plane, t);
            inputGradientPlane(dx, dxOff, d, spread == null ? dyOff : -t * s, relu != null, x, off, t * s, s, m, ra, rb, (float) p[ch], (float) q[ch],
                    (float) r[ch]);
        }
    }

    /** The s values from o on: dx (from dxOff + o) = dy * pf + x * qf + rf, dy masked (with relu) where (x - m) ra + rb is not above 0. */
    private static void inputGradientPlane(float[] dx, int dxOff, float[] dy, int dyOff, boolean relu, float[] x, int off, int o, int s,
                                           float m, float ra, float rb, float pf, float qf, float rf) {
        FloatVector pv = FloatVector.broadcast(F, pf), qv = FloatVector.broadcast(F, qf), rv = FloatVector.broadcast(F, rf);
        FloatVector mv = FloatVector.broadcast(F, m), av = FloatVector.broadcast(F, ra), bv = FloatVector.broadcast(F, rb);
        int i = 0;
        for (int bound = F.loopBound(s); i < bound; i += L) {
            FloatVector xv = FloatVector.fromArray(F, x, off + o + i);
            masked(FloatVector.fromArray(F, dy, dyOff + o + i), relu, xv.sub(mv), av, bv).fma(pv, xv.fma(qv, rv)).intoArray(dx, dxOff + o + i);
        }
        for (; i < s; i++) {
            float xs = x[off + o + i], d = !relu || affine(xs, m, ra, rb) > 0f ? dy[dyOff + o + i] : 0f;
            dx[dxOff + o + i] = d * pf + xs * qf + rf;
        }
    }

    public static void inputGradient(double[] dx, double[] dy, int dyOff, ReluOf relu, double[] x, int off, int n, int c, int s, double[] mean,
                                     double[] p, double[] q, double[] r) {
        for (int t = 0; t < n * c; t++) {
            int ch = t % c;
            for (int i = 0; i < s; i++) {
                double xs = x[off + t * s + i];
                dx[t * s + i] = gradient(dy, dyOff + t * s + i, relu, xs, mean[ch], ch) * p[ch] + xs * q[ch] + r[ch];
            }
        }
    }

    private static double sum(float[] x, int off, int n) {
        return Reductions.horizontal(Reductions.Kind.SUM, x, off, n);
    }

    private static double squaredDeviation(float[] x, int off, int n, float m) {
        int i = 0;
        double s = 0;
        if (n >= L) {
            FloatVector mv = FloatVector.broadcast(F, m), acc = FloatVector.zero(F);
            for (int bound = F.loopBound(n); i < bound; i += L) {
                FloatVector d = FloatVector.fromArray(F, x, off + i).sub(mv);
                acc = d.fma(d, acc);
            }
            s = Simd.sumLanes(acc);
        }
        for (; i < n; i++) { float d = x[off + i] - m; s += d * d; }
        return s;
    }
}
