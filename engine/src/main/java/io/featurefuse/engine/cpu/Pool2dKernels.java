package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * 2-D pooling over planes (N*C of them) with arbitrary per-output windows: row window
 * [ys[i], ye[i]) and column window [xs[j], xe[j]) (already clipped to the input), and for
 * averages a divisor per output. The same window tables serve max / avg pooling with padding
 * and ceil_mode and the adaptive pools. float32 kernels are parallel over planes; the float64
 * ones are the reference. Max pooling records the flat in-plane index of the first maximum
 * (PyTorch's choice among ties; NaN counts as the maximum) for backward.
 */
public final class Pool2dKernels {
    /** int lanes as many as F's float lanes, for the argmax beside the maximum. */
    private static final VectorSpecies<Integer> I = F.withLanes(int.class);

    private Pool2dKernels() {}

    /** Windows and divisors of one pooling call. */
    public record Windows(int h, int w, int[] ys, int[] ye, int[] xs, int[] xe, double[] divisor) {
        public int oh() { return ys.length; }
        public int ow() { return xs.length; }
    }

    private static void planes(int count, java.util.function.IntConsumer plane) {
        if ((long) count >= Parallel.threads()) Parallel.forEach(count, plane);
        else for (int p = 0; p < count; p++) plane.accept(p);
    }

    /** out = the window maxima; argmax, when not null, gets each one's flat in-plane index (for backward). */
    public static void maxForward(float[] out, int[] argmax, float[] in, int inOff, int planes, Windows g) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        if (halving(g)) {
            planes(planes, p -> maxForward2x2(out, argmax, in, inOff + p * hw, p * ohw, g));
            return;
        }
        planes(planes, p -> {
            int base = inOff + p * hw;
            for (int i = 0; i < g.oh(); i++)
                for (int j = 0; j < g.ow(); j++) {
                    float best = Float.NEGATIVE_INFINITY;
                    int at = -1;
                    for (int y = g.ys()[i]; y < g.ye()[i]; y++)
                        for (int x = g.xs()[j]; x < g.xe()[j]; x++) {
                            float v = in[base + y * g.w() + x];
                            if (at < 0 || v > best || (Float.isNaN(v) && !Float.isNaN(best))) { best = v; at = y * g.w() + x; }
                        }
                    out[p * ohw + i * g.ow() + j] = best;
                    if (argmax != null) argmax[p * ohw + i * g.ow() + j] = at;
                }
        });
    }

    /** True for 2x2 windows at stride 2 that tile the plane exactly (the usual halving max pool). */
    static boolean halving(Windows g) {
        if (g.h() != 2 * g.oh() || g.w() != 2 * g.ow()) return false;
        for (int i = 0; i < g.oh(); i++) if (g.ys()[i] != 2 * i || g.ye()[i] != 2 * i + 2) return false;
        for (int j = 0; j < g.ow(); j++) if (g.xs()[j] != 2 * j || g.xe()[j] != 2 * j + 2) return false;
        return true;
    }

    /**
     * One plane of the halving max pool: the same rule as the general loop (a value replaces the
     * best when greater, or when it is NaN and the best is not; ties keep the first), without its
     * window tables. L outputs at a time: each input row pair of vectors is unzipped into its even
     * and odd columns, the four candidates of L windows compared in window order, and the argmax
     * kept in int lanes beside them; a row's last vector ends at ow (overlapping the one before),
     * and rows narrower than a vector go one output at a time.
     */
    private static void maxForward2x2(float[] out, int[] argmax, float[] in, int base, int oBase, Windows g) {
        int w = g.w(), ow = g.ow();
        IntVector even = IntVector.zero(I).addIndex(2); // 2 l: the even column of lane l's window
        for (int i = 0; i < g.oh(); i++) {
            int r0 = base + 2 * i * w, r1 = r0 + w, o = oBase + i * ow, top = 2 * i * w, done = ow < L ? 0 : ow;
            for (int j0 = 0; j0 < done; j0 += L) {
                int j = Math.min(j0, ow - L), c = 2 * j; // a partial last vector is redone ending at ow: its overlap gets the same values
                FloatVector a = FloatVector.fromArray(F, in, r0 + c), b = FloatVector.fromArray(F, in, r0 + c + L);
                FloatVector best = a.rearrange(Simd.UNZIP_EVEN, b), v = a.rearrange(Simd.UNZIP_ODD, b);
                IntVector at = even.add(top + c);
                VectorMask<Float> m = replaces(v, best);
                best = best.blend(v, m);
                at = at.blend(even.add(top + c + 1), m.cast(I));
                a = FloatVector.fromArray(F, in, r1 + c);
                b = FloatVector.fromArray(F, in, r1 + c + L);
                v = a.rearrange(Simd.UNZIP_EVEN, b);
                m = replaces(v, best);
                best = best.blend(v, m);
                at = at.blend(even.add(top + w + c), m.cast(I));
                v = a.rearrange(Simd.UNZIP_ODD, b);
                m = replaces(v, best);
                best.blend(v, m).intoArray(out, o + j);
                if (argmax != null) at.blend(even.add(top + w + c + 1), m.cast(I)).intoArray(argmax, o + j);
            }
            for (int j = done; j < ow; j++) {
                int c = 2 * j;
                float best = in[r0 + c];
                int at = top + c;
                float v = in[r0 + c + 1];
                if (v > best || (v != v && best == best)) { best = v; at = top + c + 1; }
                v = in[r1 + c];
                if (v > best || (v != v && best == best)) { best = v; at = top + w + c; }
                v = in[r1 + c + 1];
                if (v > best || (v != v && best == best)) { best = v; at = top + w + c + 1; }
                out[o + j] = best;
                if (argmax != null) argmax[o + j] = at;
            }
        }
    }

    /**
     * Lanes where v takes the place of best: greater, or NaN where best is not; i.e. best is a
     * number (best == best) and v <= best does not hold (false when v is NaN). Written with
     * IS_NAN tests and or(), C2 left the mask or() out of line and boxed (262 GC pauses in 8 s).
     */
    private static VectorMask<Float> replaces(FloatVector v, FloatVector best) {
        return best.compare(VectorOperators.EQ, best).andNot(v.compare(VectorOperators.LE, best));
    }

    public static void maxForward(double[] out, int[] argmax, double[] in, int inOff, int planes, Windows g) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < g.oh(); i++)
                for (int j = 0; j < g.ow(); j++) {
                    double best = Double.NEGATIVE_INFINITY;
                    int at = -1;
                    for (int y = g.ys()[i]; y < g.ye()[i]; y++)
                        for (int x = g.xs()[j]; x < g.xe()[j]; x++) {
                            double v = in[inOff + p * hw + y * g.w() + x];
                            if (at < 0 || v > best || (Double.isNaN(v) && !Double.isNaN(best))) { best = v; at = y * g.w() + x; }
                        }
                    out[p * ohw + i * g.ow() + j] = best;
                    if (argmax != null) argmax[p * ohw + i * g.ow() + j] = at;
                }
    }

    /** dIn (zeroed here) gets each output gradient at its recorded argmax. */
    public static void maxBackward(float[] dIn, float[] dOut, int dOff, int[] argmax, int planes, Windows g) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        planes(planes, p -> {
            java.util.Arrays.fill(dIn, p * hw, (p + 1) * hw, 0f);
            for (int o = 0; o < ohw; o++) dIn[p * hw + argmax[p * ohw + o]] += dOut[dOff + p * ohw + o];
        });
    }

    public static void maxBackward(double[] dIn, double[] dOut, int dOff, int[] argmax, int planes, Windows g) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        java.util.Arrays.fill(dIn, 0);
        for (int p = 0; p < planes; p++)
            for (int o = 0; o < ohw; o++) dIn[p * hw + argmax[p * ohw + o]] += dOut[dOff + p * ohw + o];
    }

    public static void avgForward(float[] out, float[] in, int inOff, int planes, Windows g) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        planes(planes, p -> {
            int base = inOff + p * hw;
            for (int i = 0; i < g.oh(); i++)
                for (int j = 0; j < g.ow(); j++) {
                    float sum = 0;
                    for (int y = g.ys()[i]; y < g.ye()[i]; y++)
                        for (int x = g.xs()[j]; x < g.xe()[j]; x++) sum += in[base + y * g.w() + x];
                    out[p * ohw + i * g.ow() + j] = (float) (sum / g.divisor()[i * g.ow() + j]);
                }
        });
    }

    public static void avgForward(double[] out, double[] in, int inOff, int planes, Windows g) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < g.oh(); i++)
                for (int j = 0; j < g.ow(); j++) {
                    double sum = 0;
                    for (int y = g.ys()[i]; y < g.ye()[i]; y++)
                        for (int x = g.xs()[j]; x < g.xe()[j]; x++) sum += in[inOff + p * hw + y * g.w() + x];
                    out[p * ohw + i * g.ow() + j] = sum / g.divisor()[i * g.ow() + j];
                }
    }

    /** dIn (zeroed here): each output gradient spread evenly, divided by its divisor, over its window. */
    public static void avgBackward(float[] dIn, float[] dOut, int dOff, int planes, Windows g) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        planes(planes, p -> {
            java.util.Arrays.fill(dIn, p * hw, (p + 1) * hw, 0f);
            for (int i = 0; i < g.oh(); i++)
                for (int j = 0; j < g.ow(); j++) {
                    float v = (float) (dOut[dOff + p * ohw + i * g.ow() + j] / g.divisor()[i * g.ow() + j]);
                    for (int y = g.ys()[i]; y < g.ye()[i]; y++)
                        for (int x = g.xs()[j]; x < g.xe()[j]; x++) dIn[p * hw + y * g.w() + x] += v;
                }
        });
    }

    public static void avgBackward(double[] dIn, double[] dOut, int dOff, int planes, Windows g) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        java.util.Arrays.fill(dIn, 0);
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < g.oh(); i++)
                for (int j = 0; j < g.ow(); j++) {
                    double v = dOut[dOff + p * ohw + i * g.ow() + j] / g.divisor()[i * g.ow() + j];
                    for (int y = g.ys()[i]; y < g.ye()[i]; y++)
                        for (int x = g.xs()[j]; x < g.xe()[j]; x++) dIn[p * hw + y * g.w() + x] += v;
                }
    }
}
