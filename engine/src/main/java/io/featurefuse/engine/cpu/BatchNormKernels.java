package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Batch normalisation over [N, C, S] (S = the spatial size) in two kernels per direction:
 * per-channel statistics, then one fused multiply-add per element; backward needs two sums per
 * channel and one more pass. Statistics are accumulated in float64 in a fixed order (two passes:
 * mean, then squared deviations), so they do not depend on the thread count. float32 kernels
 * vectorise along planes and run parallel over channels or ranges of planes; the float64 ones are the
 * reference.
 *
 * <p>Forward: y = (x - mean) * invstd * gamma + beta. Backward (training, batch statistics,
 * M = N*S values per channel): dbeta = sum dy, dgamma = sum dy * xhat,
 * dx = gamma * invstd / M * (M dy - dbeta - xhat dgamma); in evaluation dx = dy * gamma * invstd.
 */
public final class BatchNormKernels {
    private BatchNormKernels() {}

    /**
     * Per-channel mean and biased variance of x (N, C, S). Each pass sums every plane on its own
     * (planes in ranges, read in memory order), then each channel's plane sums in image order:
     * the same additions as a channel at a time, so the same bits. A task per channel read its
     * N planes one image (C planes) apart, a pattern the prefetchers follow worse than one
     * stream.
     */
    public static void statistics(float[] x, int off, int n, int c, int s, double[] mean, double[] var) {
        double[] planes = planeScratch(n * c, 0);
        Parallel.forRanges(n * c, s, (t0, t1) -> {
            for (int t = t0; t < t1; t++) planes[t] = sum(x, off + t * s, s);
        });
        sumByChannel(planes, n, c, mean);
        for (int ch = 0; ch < c; ch++) mean[ch] /= (double) n * s;
        Parallel.forRanges(n * c, s, (t0, t1) -> {
            for (int t = t0; t < t1; t++) planes[t] = squaredDeviation(x, off + t * s, s, (float) mean[t % c]);
        });
        sumByChannel(planes, n, c, var);
        for (int ch = 0; ch < c; ch++) var[ch] /= (double) n * s;
    }

    /** A double per plane, the calling thread's own (the tasks that fill it write disjoint planes). */
    private static final ThreadLocal<double[][]> PLANES = ThreadLocal.withInitial(() -> new double[][] {new double[0], new double[0]});

    private static double[] planeScratch(int size, int slot) {
        double[][] held = PLANES.get();
        if (held[slot].length < size) held[slot] = new double[size];
        return held[slot];
    }

    /** out[ch] = the sum over images i, in order, of planes[i C + ch]. */
    private static void sumByChannel(double[] planes, int n, int c, double[] out) {
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
        Parallel.forRanges(n * c, 2 * s, (t0, t1) -> {
            for (int t = t0; t < t1; t++)
                affinePlane(y, x, off, t * s, s, (float) mean[t % c], (float) scale[t % c], (float) beta[t % c], relu);
        });
    }

    /** The s values from o on: y[o + i] = (x[off + o + i] - m) * a + b, clamped at 0 with relu. */
    private static void affinePlane(float[] y, float[] x, int off, int o, int s, float m, float a, float b, boolean relu) {
        int i = 0;
        FloatVector mv = FloatVector.broadcast(F, m), av = FloatVector.broadcast(F, a), bv = FloatVector.broadcast(F, b);
        if (relu) {
            FloatVector zero = FloatVector.zero(F);
            for (int bound = F.loopBound(s); i < bound; i += L)
                FloatVector.fromArray(F, x, off + o + i).sub(mv).fma(av, bv).max(zero).intoArray(y, o + i);
            for (; i < s; i++) y[o + i] = Math.max((x[off + o + i] - m) * a + b, 0f);
        } else {
            for (int bound = F.loopBound(s); i < bound; i += L)
                FloatVector.fromArray(F, x, off + o + i).sub(mv).fma(av, bv).intoArray(y, o + i);
            for (; i < s; i++) y[o + i] = (x[off + o + i] - m) * a + b;
        }
    }

    public static void affine(double[] y, double[] x, int off, int n, int c, int s, double[] mean, double[] scale, double[] beta, boolean relu) {
        for (int t = 0; t < n * c; t++) {
            int ch = t % c;
            for (int i = 0; i < s; i++) {
                double v = (x[off + t * s + i] - mean[ch]) * scale[ch] + beta[ch];
                y[t * s + i] = relu ? Math.max(v, 0.0) : v;
            }
        }
    }

    /**
     * Per channel: sums[ch] = sum dy, dots[ch] = sum dy * (x - mean). With relu (the saved output
     * of batchNormRelu, same layout as dy at reluOff; else null) dy counts only where relu > 0:
     * the ReLU's backward done on the fly, not as a tensor of its own.
     */
    public static void gradientSums(float[] dy, int dyOff, float[] relu, int reluOff, float[] x, int off, int n, int c, int s, double[] mean,
                                    double[] sums, double[] dots) {
        // One pass over each plane for both sums (two, with a horizontal sum each, measured ~4% of a training step);
        // planes in ranges, in memory order, then summed per channel in image order (see statistics)
        double[] planeSums = planeScratch(n * c, 0), planeDots = planeScratch(n * c, 1);
        Parallel.forRanges(n * c, 3 * s, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                int p = t * s, j = 0;
                float m = (float) mean[t % c];
                double a = 0, b = 0;
                if (s >= L) {
                    FloatVector mv = FloatVector.broadcast(F, m), sa = FloatVector.zero(F), sb = sa;
                    for (int bound = F.loopBound(s); j < bound; j += L) {
                        FloatVector d = gradientVector(dy, dyOff + p + j, relu, reluOff + p + j);
                        sa = sa.add(d);
                        sb = d.fma(FloatVector.fromArray(F, x, off + p + j).sub(mv), sb);
                    }
                    a = Simd.sumLanes(sa);
                    b = Simd.sumLanes(sb);
                }
                for (; j < s; j++) {
                    float d = gradient(dy, dyOff + p + j, relu, reluOff + p + j);
                    a += d;
                    b += d * (x[off + p + j] - m);
                }
                planeSums[t] = a;
                planeDots[t] = b;
            }
        });
        sumByChannel(planeSums, n, c, sums);
        sumByChannel(planeDots, n, c, dots);
    }

    /** dy[i], or 0 where relu (when given) is not above 0. */
    private static float gradient(float[] dy, int i, float[] relu, int ri) {
        return relu == null || relu[ri] > 0 ? dy[i] : 0f;
    }

    private static double gradient(double[] dy, int i, double[] relu, int ri) {
        return relu == null || relu[ri] > 0 ? dy[i] : 0.0;
    }

    /** dy's vector at i, zero in the lanes where relu (when given) is not above 0: as BinaryOp.RELU_GRAD computes it. */
    private static FloatVector gradientVector(float[] dy, int i, float[] relu, int ri) {
        FloatVector d = FloatVector.fromArray(F, dy, i);
        return relu == null ? d : FloatVector.zero(F).blend(d, FloatVector.fromArray(F, relu, ri).compare(VectorOperators.GT, 0f));
    }

    public static void gradientSums(double[] dy, int dyOff, double[] relu, int reluOff, double[] x, int off, int n, int c, int s, double[] mean,
                                    double[] sums, double[] dots) {
        for (int ch = 0; ch < c; ch++) {
            double a = 0, b = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++) {
                    int p = (i * c + ch) * s + j;
                    double d = gradient(dy, dyOff + p, relu, reluOff + p);
                    a += d;
                    b += d * (x[off + p] - mean[ch]);
                }
            sums[ch] = a;
            dots[ch] = b;
        }
    }

    /** dx = dy * p[ch] + x * q[ch] + r[ch]: the training-mode input gradient, with coefficients per channel; dy masked by relu as in gradientSums. */
    public static void inputGradient(float[] dx, float[] dy, int dyOff, float[] relu, int reluOff, float[] x, int off, int n, int c, int s,
                                     double[] p, double[] q, double[] r) {
        Parallel.forRanges(n * c, 4 * s, (t0, t1) -> {
            for (int t = t0; t < t1; t++)
                inputGradientPlane(dx, dy, dyOff, relu, reluOff, x, off, t * s, s, (float) p[t % c], (float) q[t % c], (float) r[t % c]);
        });
    }

    /** The s values from o on: dx = dy * pf + x * qf + rf, dy masked by relu. */
    private static void inputGradientPlane(float[] dx, float[] dy, int dyOff, float[] relu, int reluOff, float[] x, int off, int o, int s,
                                           float pf, float qf, float rf) {
        FloatVector pv = FloatVector.broadcast(F, pf), qv = FloatVector.broadcast(F, qf), rv = FloatVector.broadcast(F, rf);
        int i = 0;
        for (int bound = F.loopBound(s); i < bound; i += L)
            gradientVector(dy, dyOff + o + i, relu, reluOff + o + i).fma(pv, FloatVector.fromArray(F, x, off + o + i).fma(qv, rv)).intoArray(dx, o + i);
        for (; i < s; i++) dx[o + i] = gradient(dy, dyOff + o + i, relu, reluOff + o + i) * pf + x[off + o + i] * qf + rf;
    }

    public static void inputGradient(double[] dx, double[] dy, int dyOff, double[] relu, int reluOff, double[] x, int off, int n, int c, int s,
                                     double[] p, double[] q, double[] r) {
        for (int t = 0; t < n * c; t++) {
            int ch = t % c;
            for (int i = 0; i < s; i++)
                dx[t * s + i] = gradient(dy, dyOff + t * s + i, relu, reluOff + t * s + i) * p[ch] + x[off + t * s + i] * q[ch] + r[ch];
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
