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

    /** plane.accept(p) for every plane, in tasks of several planes when they are small (see Parallel.forRanges). */
    private static void planes(int count, Windows g, java.util.function.IntConsumer plane) {
        Parallel.forRanges(count, g.h() * g.w() + g.oh() * g.ow(), (p0, p1) -> {
            for (int p = p0; p < p1; p++) plane.accept(p);
        });
    }

    /** out = the window maxima; argmax, when not null, gets each one's flat in-plane index (for backward). */
    public static void maxForward(float[] out, int[] argmax, float[] in, int inOff, int planes, Windows g) {
        int hw = g.h() * g.w();
        boolean halving = halving(g);
        planes(planes, g, p -> maxPlane(out, argmax, in, inOff + p * hw, p, g, halving));
    }

    /**
     * Plane p of maxForward, its input from in[base] on: out and argmax at p oh ow. halving is
     * {@link #halving}(g), which picks the kernel.
     */
    public static void maxPlane(float[] out, int[] argmax, float[] in, int base, int p, Windows g, boolean halving) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        if (halving) {
            if (g.ow() < L && hw >= 2 * L) maxForward2x2Narrow(out, argmax, in, base, p * ohw, g);
            else maxForward2x2(out, argmax, in, base, p * ohw, g);
            return;
        }
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
    }

    /** True for 2x2 windows at stride 2 that tile the plane exactly (the usual halving max pool). */
    public static boolean halving(Windows g) {
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

    private static final ThreadLocal<float[]> PAIR_MAX = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<int[]> PAIR_AT = ThreadLocal.withInitial(() -> new int[0]);

    /**
     * {@link #maxForward2x2} for planes whose output rows are narrower than a vector (14x14 -> 7x7),
     * which that kernel did one output at a time: 6.5 ms of a b256 inference's ~150 (2 threads),
     * four times the 28x28 -> 14x14 pool that moves four times the data. The rows lie back to
     * back and w = 2 ow is even, so the whole plane unzipped as one run pairs each input with its
     * row neighbour: first the better of each horizontal pair, into row-major h x ow scratch
     * (with its index), then the better of the two scratch rows of each window, a vector per
     * output row. Comparing (a, b), (c, d), then the two winners keeps the window order, so the
     * rule is the one above: ties keep the first, the first NaN wins. An output row's vector
     * also covers the start of the next row, which is written after it; where that would pass
     * the plane's end the row is stored through a mask.
     */
    private static void maxForward2x2Narrow(float[] out, int[] argmax, float[] in, int base, int oBase, Windows g) {
        int w = g.w(), ow = g.ow(), n = g.h() * w, last = n - 2 * L, ohw = g.oh() * ow; // n and last are even: w is
        float[] hBest = PAIR_MAX.get();
        int[] hAt = PAIR_AT.get();
        if (hBest.length < n / 2 + L) {
            PAIR_MAX.set(hBest = new float[n / 2 + L]);
            PAIR_AT.set(hAt = new int[n / 2 + L]);
        }
        IntVector even = IntVector.zero(I).addIndex(2);
        for (int e = 0; ; e = Math.min(e + 2 * L, last)) { // the last block ends at n, overlapping the one before
            FloatVector a = FloatVector.fromArray(F, in, base + e), b = FloatVector.fromArray(F, in, base + e + L);
            FloatVector best = a.rearrange(Simd.UNZIP_EVEN, b), v = a.rearrange(Simd.UNZIP_ODD, b);
            VectorMask<Float> m = replaces(v, best);
            best.blend(v, m).intoArray(hBest, e / 2);
            if (argmax != null) even.add(e).blend(even.add(e + 1), m.cast(I)).intoArray(hAt, e / 2);
            if (e == last) break;
        }
        VectorMask<Float> row = F.indexInRange(0, ow);
        for (int i = 0; i < g.oh(); i++) {
            int t = 2 * i * ow, o = oBase + i * ow;
            FloatVector best = FloatVector.fromArray(F, hBest, t), v = FloatVector.fromArray(F, hBest, t + ow);
            VectorMask<Float> m = replaces(v, best);
            boolean whole = i * ow + L <= ohw;
            if (whole) best.blend(v, m).intoArray(out, o);
            else best.blend(v, m).intoArray(out, o, row);
            // No vector variable that may be null: C2 must then keep the vector as an object. Compiled
            // after training (argmax given) and inference (none) had both run, this loop boxed its
            // vectors and masks: ~3 GB/s of garbage, inference after training ~2,000 against ~3,300 img/s.
            if (argmax == null) continue;
            IntVector at = IntVector.fromArray(I, hAt, t).blend(IntVector.fromArray(I, hAt, t + ow), m.cast(I));
            if (whole) at.intoArray(argmax, o);
            else at.intoArray(argmax, o, row.cast(I));
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
        int hw = g.h() * g.w();
        planes(planes, g, p -> maxBackwardPlane(dIn, p * hw, dOut, dOff, argmax, p, g));
    }

    /** Plane p of maxBackward, written to dIn from at on. */
    public static void maxBackwardPlane(float[] dIn, int at, float[] dOut, int dOff, int[] argmax, int p, Windows g) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        java.util.Arrays.fill(dIn, at, at + hw, 0f);
        for (int o = 0; o < ohw; o++) dIn[at + argmax[p * ohw + o]] += dOut[dOff + p * ohw + o];
    }

    public static void maxBackward(double[] dIn, double[] dOut, int dOff, int[] argmax, int planes, Windows g) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        java.util.Arrays.fill(dIn, 0);
        for (int p = 0; p < planes; p++)
            for (int o = 0; o < ohw; o++) dIn[p * hw + argmax[p * ohw + o]] += dOut[dOff + p * ohw + o];
    }

    /**
     * out = each window's mean (sum / divisor). A window's rows are runs of consecutive inputs,
     * and a window of whole rows (a global or row-band pool) is one run: runs of a vector or more
     * are summed in vectors. The scalar loop this replaces (one dependent add per input) took
     * 3.6% of the reference model's inference, all of it its global pool over 128 x 14 x 14.
     * That pool alone (b256, 2 threads, best of 1 s): forward 3.7-4.3 -> 2.3-2.7 ms, backward
     * (with the single write of tiling windows) 5.9-6.3 -> 4.0-4.7 ms.
     */
    public static void avgForward(float[] out, float[] in, int inOff, int planes, Windows g) {
        int hw = g.h() * g.w();
        planes(planes, g, p -> avgPlane(out, in, inOff + p * hw, p, g));
    }

    /** Plane p of avgForward, its input from in[base] on, out at p oh ow. */
    public static void avgPlane(float[] out, float[] in, int base, int p, Windows g) {
        int ohw = g.oh() * g.ow(), w = g.w();
        for (int i = 0; i < g.oh(); i++)
            for (int j = 0; j < g.ow(); j++) {
                int x0 = g.xs()[j], x1 = g.xe()[j];
                float sum = 0;
                if (x0 == 0 && x1 == w) sum = sumRun(in, base + g.ys()[i] * w, base + g.ye()[i] * w);
                else for (int y = g.ys()[i]; y < g.ye()[i]; y++) sum += sumRun(in, base + y * w + x0, base + y * w + x1);
                out[p * ohw + i * g.ow() + j] = (float) (sum / g.divisor()[i * g.ow() + j]);
            }
    }

    /**
     * a[from] + ... + a[to - 1]: two vector accumulators when the run holds a vector, the rest one by one. The
     * lanes are summed in a fixed order (reduceLanes(ADD) here made training differ between runs of the same
     * seed: the global pool of every classifier head rounded differently before and after C2 compiled it).
     */
    private static float sumRun(float[] a, int from, int to) {
        float sum = 0;
        int i = from;
        if (to - from >= L) {
            FloatVector s0 = FloatVector.zero(F), s1 = s0;
            for (; i + 2 * L <= to; i += 2 * L) {
                s0 = s0.add(FloatVector.fromArray(F, a, i));
                s1 = s1.add(FloatVector.fromArray(F, a, i + L));
            }
            if (i + L <= to) {
                s0 = s0.add(FloatVector.fromArray(F, a, i));
                i += L;
            }
            sum = Simd.sumLanes(s0.add(s1));
        }
        for (; i < to; i++) sum += a[i];
        return sum;
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

    /**
     * dIn (overwritten): each output gradient spread evenly, divided by its divisor, over its
     * window (in runs, as avgForward). Windows that tile the plane exactly (a global pool, stride
     * = kernel without padding) write each input once; others add into a zeroed plane.
     */
    public static void avgBackward(float[] dIn, float[] dOut, int dOff, int planes, Windows g) {
        int hw = g.h() * g.w();
        boolean tiles = tiles(g);
        planes(planes, g, p -> avgBackwardPlane(dIn, p * hw, dOut, dOff, p, g, tiles));
    }

    /** Plane p of avgBackward, written to dIn from at on; tiles is {@link #tiles}(g). */
    public static void avgBackwardPlane(float[] dIn, int at, float[] dOut, int dOff, int p, Windows g, boolean tiles) {
        int hw = g.h() * g.w(), ohw = g.oh() * g.ow(), w = g.w();
        if (!tiles) java.util.Arrays.fill(dIn, at, at + hw, 0f);
        for (int i = 0; i < g.oh(); i++)
            for (int j = 0; j < g.ow(); j++) {
                float v = (float) (dOut[dOff + p * ohw + i * g.ow() + j] / g.divisor()[i * g.ow() + j]);
                int x0 = g.xs()[j], x1 = g.xe()[j];
                if (x0 == 0 && x1 == w) spreadRun(dIn, at + g.ys()[i] * w, at + g.ye()[i] * w, v, tiles);
                else for (int y = g.ys()[i]; y < g.ye()[i]; y++) spreadRun(dIn, at + y * w + x0, at + y * w + x1, v, tiles);
            }
    }

    /** Whether g's windows tile the plane exactly (a global pool, stride = kernel without padding): avgBackward then writes each input once. */
    public static boolean tiles(Windows g) {
        return tiles(g.ys(), g.ye(), g.h()) && tiles(g.xs(), g.xe(), g.w());
    }

    /** Whether windows [start[i], end[i]) cover [0, size) one after another without gaps or overlaps. */
    private static boolean tiles(int[] start, int[] end, int size) {
        for (int i = 0; i < start.length; i++)
            if (start[i] != (i == 0 ? 0 : end[i - 1])) return false;
        return end[end.length - 1] == size;
    }

    /** a[from .. to) = v (set) or += v, in vectors while a whole one fits. */
    private static void spreadRun(float[] a, int from, int to, float v, boolean set) {
        if (set) {
            java.util.Arrays.fill(a, from, to, v);
            return;
        }
        int i = from;
        if (to - from >= L) {
            FloatVector b = FloatVector.broadcast(F, v);
            for (; i + L <= to; i += L) FloatVector.fromArray(F, a, i).add(b).intoArray(a, i);
        }
        for (; i < to; i++) a[i] += v;
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
