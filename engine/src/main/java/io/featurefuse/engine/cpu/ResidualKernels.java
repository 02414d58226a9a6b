package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * A residual block's end in one pass: out = max(bn(x) + r, 0), r the shortcut as it is or its own
 * batch norm's output, over [N, C, S] planes (S the spatial size). Each batch norm is
 * (x - mean[ch]) scale[ch] + shift[ch], computed as BatchNormKernels.affine computes it (a fused
 * multiply-add in a plane's vectors, a multiply then an add in its tail), and the sum and clamp as
 * Tensor.addRelu's, so the output is the three ops' to the bit. The normalised maps are never
 * written: two of x's size fewer to write and read back for an identity shortcut, four for a
 * projection. float32 kernels run parallel over ranges of planes; the float64 one is the reference.
 */
public final class ResidualKernels {
    private ResidualKernels() {}

    /**
     * out = max((x - mean) scale + shift + r, 0) per plane, with r = other as it is when otherMean is
     * null, else (other - otherMean) otherScale + otherShift; x from xOff, other from oOff, out from 0.
     */
    public static void affineAddRelu(float[] out, float[] x, int xOff, int n, int c, int s, double[] mean, double[] scale, double[] shift,
                                     float[] other, int oOff, double[] otherMean, double[] otherScale, double[] otherShift) {
        Parallel.forRanges(n * c, 3 * s, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                int ch = t % c;
                float m = (float) mean[ch], a = (float) scale[ch], b = (float) shift[ch];
                if (otherMean == null) plainPlane(out, t * s, x, xOff + t * s, other, oOff + t * s, s, m, a, b);
                else normalisedPlane(out, t * s, x, xOff + t * s, other, oOff + t * s, s, m, a, b, (float) otherMean[ch], (float) otherScale[ch],
                        (float) otherShift[ch]);
            }
        });
    }

    /** One plane of s values: out = max((x - m) a + b + r, 0). */
    private static void plainPlane(float[] out, int o, float[] x, int xAt, float[] r, int rAt, int s, float m, float a, float b) {
        FloatVector mv = FloatVector.broadcast(F, m), av = FloatVector.broadcast(F, a), bv = FloatVector.broadcast(F, b), zero = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(s); i < bound; i += L)
            FloatVector.fromArray(F, x, xAt + i).sub(mv).fma(av, bv).add(FloatVector.fromArray(F, r, rAt + i)).max(zero).intoArray(out, o + i);
        for (; i < s; i++) out[o + i] = Math.max((x[xAt + i] - m) * a + b + r[rAt + i], 0f);
    }

    /** One plane of s values: out = max((x - m) a + b + (y - my) ay + by, 0). */
    private static void normalisedPlane(float[] out, int o, float[] x, int xAt, float[] y, int yAt, int s, float m, float a, float b,
                                        float my, float ay, float by) {
        FloatVector mv = FloatVector.broadcast(F, m), av = FloatVector.broadcast(F, a), bv = FloatVector.broadcast(F, b), zero = FloatVector.zero(F);
        FloatVector myv = FloatVector.broadcast(F, my), ayv = FloatVector.broadcast(F, ay), byv = FloatVector.broadcast(F, by);
        int i = 0;
        for (int bound = F.loopBound(s); i < bound; i += L) {
            FloatVector r = FloatVector.fromArray(F, y, yAt + i).sub(myv).fma(ayv, byv);
            FloatVector.fromArray(F, x, xAt + i).sub(mv).fma(av, bv).add(r).max(zero).intoArray(out, o + i);
        }
        for (; i < s; i++) out[o + i] = Math.max((x[xAt + i] - m) * a + b + ((y[yAt + i] - my) * ay + by), 0f);
    }

    /**
     * Backward's first pass over n c planes of s values: d = g where out > 0, else 0 (the gradient
     * through the ReLU, as Tensor.addRelu's backward masks it), and per channel sums[ch] = sum d,
     * dots[ch] = sum d (x - mean[ch]) and, with other, otherDots[ch] = sum d (other - otherMean[ch]),
     * each summed as BatchNormKernels.gradientSums sums a gradient (the same bits as that pass on
     * the masked gradient). With gated, d is written there too (an identity shortcut's gradient).
     * One read of g, out and each input, instead of writing the masked gradient and reading it
     * once for each norm.
     */
    public static void gatedSums(float[] g, int gOff, float[] out, int outOff, float[] x, int xOff, double[] mean, float[] other, int oOff,
                                 double[] otherMean, int n, int c, int s, double[] sums, double[] dots, double[] otherDots, float[] gated) {
        double[] planeSums = BatchNormKernels.planeScratch(n * c, 0), planeDots = BatchNormKernels.planeScratch(n * c, 1);
        double[] planeOther = other == null ? null : BatchNormKernels.planeScratch(n * c, 2);
        Parallel.forRanges(n * c, 4 * s, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                int ch = t % c, p = t * s, j = 0;
                float m = (float) mean[ch], mo = other == null ? 0f : (float) otherMean[ch];
                double a = 0, b = 0, bo = 0;
                if (s >= L) {
                    FloatVector mv = FloatVector.broadcast(F, m), mov = FloatVector.broadcast(F, mo), zero = FloatVector.zero(F);
                    FloatVector sa = zero, sb = zero, so = zero;
                    for (int bound = F.loopBound(s); j < bound; j += L) {
                        FloatVector d = zero.blend(FloatVector.fromArray(F, g, gOff + p + j),
                                FloatVector.fromArray(F, out, outOff + p + j).compare(VectorOperators.GT, 0f));
                        if (gated != null) d.intoArray(gated, p + j);
                        FloatVector xm = FloatVector.fromArray(F, x, xOff + p + j).sub(mv);
                        sa = sa.add(d);
                        sb = d.fma(xm, sb);
                        if (other != null) so = d.fma(FloatVector.fromArray(F, other, oOff + p + j).sub(mov), so);
                    }
                    a = Simd.sumLanes(sa);
                    b = Simd.sumLanes(sb);
                    bo = Simd.sumLanes(so);
                }
                for (; j < s; j++) {
                    float d = out[outOff + p + j] > 0f ? g[gOff + p + j] : 0f, xm = x[xOff + p + j] - m;
                    if (gated != null) gated[p + j] = d;
                    a += d;
                    b += d * xm;
                    if (other != null) bo += d * (other[oOff + p + j] - mo);
                }
                planeSums[t] = a;
                planeDots[t] = b;
                if (other != null) planeOther[t] = bo;
            }
        });
        BatchNormKernels.sumByChannel(planeSums, n, c, sums);
        BatchNormKernels.sumByChannel(planeDots, n, c, dots);
        if (other != null) BatchNormKernels.sumByChannel(planeOther, n, c, otherDots);
    }

    /**
     * Backward's second pass for a projection shortcut: d = g where out > 0, else 0, and
     * dx = d p[ch] + x q[ch] + r[ch], dOther = d op[ch] + other oq[ch] + or[ch], as
     * BatchNormKernels.inputGradient computes each from the masked gradient, to the bit; either
     * output may be null (that input takes no gradient).
     */
    public static void gatedInputGradients(float[] g, int gOff, float[] out, int outOff, int n, int c, int s, float[] dx, float[] x, int xOff,
                                           double[] p, double[] q, double[] r, float[] dOther, float[] other, int oOff, double[] op, double[] oq,
                                           double[] or) {
        Parallel.forRanges(n * c, 6 * s, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                int ch = t % c;
                gatedPlane(g, gOff + t * s, out, outOff + t * s, s, dx, t * s, x, xOff + t * s, (float) p[ch], (float) q[ch], (float) r[ch]);
                gatedPlane(g, gOff + t * s, out, outOff + t * s, s, dOther, t * s, other, oOff + t * s, (float) op[ch], (float) oq[ch], (float) or[ch]);
            }
        });
    }

    /**
     * One norm's part of {@link #gatedInputGradients} for images [n0, n1) alone, on the calling thread, into dx from 0 (image n0's
     * first plane first): the conv that made x asks for it so, chunk by chunk (see BatchNormKernels.inputGradientOfImages).
     */
    public static void gatedInputGradientOfImages(float[] dx, float[] g, int gOff, float[] out, int outOff, int n0, int n1, int c, int s, float[] x,
                                                  int xOff, double[] p, double[] q, double[] r) {
        for (int t = n0 * c; t < n1 * c; t++) {
            int ch = t % c;
            gatedPlane(g, gOff + t * s, out, outOff + t * s, s, dx, (t - n0 * c) * s, x, xOff + t * s, (float) p[ch], (float) q[ch], (float) r[ch]);
        }
    }

    /** One plane of {@link #gatedInputGradients} for one norm: dx[o + i] = d pf + x qf + rf; nothing when dx is null. */
    private static void gatedPlane(float[] g, int gAt, float[] out, int outAt, int s, float[] dx, int o, float[] x, int xAt, float pf, float qf,
                                   float rf) {
        if (dx == null) return;
        FloatVector pv = FloatVector.broadcast(F, pf), qv = FloatVector.broadcast(F, qf), rv = FloatVector.broadcast(F, rf), zero = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(s); i < bound; i += L) {
            FloatVector d = zero.blend(FloatVector.fromArray(F, g, gAt + i), FloatVector.fromArray(F, out, outAt + i).compare(VectorOperators.GT, 0f));
            d.fma(pv, FloatVector.fromArray(F, x, xAt + i).fma(qv, rv)).intoArray(dx, o + i);
        }
        for (; i < s; i++) {
            float d = out[outAt + i] > 0f ? g[gAt + i] : 0f;
            dx[o + i] = d * pf + x[xAt + i] * qf + rf;
        }
    }

    /** The reference: the same formula in float64, one value at a time. */
    public static void affineAddRelu(double[] out, double[] x, int xOff, int n, int c, int s, double[] mean, double[] scale, double[] shift,
                                     double[] other, int oOff, double[] otherMean, double[] otherScale, double[] otherShift) {
        for (int t = 0; t < n * c; t++) {
            int ch = t % c;
            for (int i = 0; i < s; i++) {
                double v = other[oOff + t * s + i];
                double r = otherMean == null ? v : (v - otherMean[ch]) * otherScale[ch] + otherShift[ch];
                out[t * s + i] = Math.max((x[xOff + t * s + i] - mean[ch]) * scale[ch] + shift[ch] + r, 0.0);
            }
        }
    }
}
