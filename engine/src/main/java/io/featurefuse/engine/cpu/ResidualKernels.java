package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;

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
