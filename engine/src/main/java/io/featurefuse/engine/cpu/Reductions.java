package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Fast float32 reductions (sum, max, min) of a contiguous tensor over any set of dims.
 * Dims are first merged into alternating kept / reduced groups; the innermost group decides the
 * inner loop: reduced means a horizontal vector sum of a contiguous run, kept means a vertical
 * vector accumulation of a run into a row of the output. The reference is
 * {@link ScalarKernels#reduce}.
 */
public final class Reductions {
    public enum Kind {
        SUM, MAX, MIN;

        public double identity() {
            return switch (this) {
                case SUM -> 0;
                case MAX -> Double.NEGATIVE_INFINITY;
                case MIN -> Double.POSITIVE_INFINITY;
            };
        }
    }

    private Reductions() {}

    /** out (kept dims, in order) = reduce of in over the flagged dims; out is overwritten. */
    public static void reduce(Kind kind, float[] in, int inOff, int[] shape, boolean[] reduce, float[] out) {
        Arrays.fill(out, (float) kind.identity());
        // Merge into groups of like flags, dropping size-1 dims.
        int[] g = new int[shape.length];
        boolean[] gr = new boolean[shape.length];
        int ng = 0;
        for (int d = 0; d < shape.length; d++) {
            if (shape[d] == 1) continue;
            if (ng > 0 && gr[ng - 1] == reduce[d]) g[ng - 1] *= shape[d];
            else { g[ng] = shape[d]; gr[ng] = reduce[d]; ng++; }
        }
        if (ng == 0) { // a single element
            out[0] = in[inOff];
            return;
        }
        int n = g[ng - 1];
        boolean innerReduced = gr[ng - 1];
        // Output strides of the outer groups (0 for reduced groups).
        int[] ostride = new int[ng - 1];
        int s = innerReduced ? 1 : n;
        for (int d = ng - 2; d >= 0; d--) {
            ostride[d] = gr[d] ? 0 : s;
            if (!gr[d]) s *= g[d];
        }
        int[] idx = new int[ng - 1];
        long rows = 1;
        for (int d = 0; d < ng - 1; d++) rows *= g[d];
        int o = 0, base = inOff;
        for (long r = 0; r < rows; r++, base += n) {
            if (innerReduced) {
                float v = horizontal(kind, in, base, n);
                out[o] = combine(kind, out[o], v);
            } else {
                vertical(kind, in, base, out, o, n);
            }
            for (int d = ng - 2; d >= 0; d--) {
                idx[d]++;
                o += ostride[d];
                if (idx[d] < g[d]) break;
                o -= ostride[d] * g[d];
                idx[d] = 0;
            }
        }
    }

    private static float combine(Kind kind, float a, float b) {
        return switch (kind) {
            case SUM -> a + b;
            case MAX -> Float.isNaN(a) || Float.isNaN(b) ? Float.NaN : Math.max(a, b);
            case MIN -> Float.isNaN(a) || Float.isNaN(b) ? Float.NaN : Math.min(a, b);
        };
    }

    /**
     * The reduction of x[off .. off+n), with 4 independent vector accumulators: four vectors a step,
     * then single vectors, so only the last n mod L values go one by one (a 7x7 plane had all its
     * 49, a 28x28 one its last 16, in the scalar loop).
     *
     * <p>One method per kind, each with its own vectors and profile: as one method with a switch
     * around the three loops, C2 compiled it in the cli tests' JVM (whose earlier tests reduce in
     * other ways) with the starting vector boxed, ~50 MB/s of garbage in the reference training
     * step's batch-norm sums (JFR), about half of what a steady step allocated there.
     */
    static float horizontal(Kind kind, float[] x, int off, int n) {
        return switch (kind) {
            case SUM -> sum(x, off, n);
            case MAX -> max(x, off, n);
            case MIN -> min(x, off, n);
        };
    }

    private static float sum(float[] x, int off, int n) {
        int i = 0;
        float r = 0;
        if (n >= L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int bound4 = n - n % (4 * L); i < bound4; i += 4 * L) {
                a0 = a0.add(FloatVector.fromArray(F, x, off + i));
                a1 = a1.add(FloatVector.fromArray(F, x, off + i + L));
                a2 = a2.add(FloatVector.fromArray(F, x, off + i + 2 * L));
                a3 = a3.add(FloatVector.fromArray(F, x, off + i + 3 * L));
            }
            for (int bound = F.loopBound(n); i < bound; i += L) a0 = a0.add(FloatVector.fromArray(F, x, off + i));
            r = Simd.sumLanes(a0.add(a1).add(a2.add(a3)));
        }
        for (; i < n; i++) r += x[off + i];
        return r;
    }

    private static float max(float[] x, int off, int n) {
        int i = 0;
        float r = Float.NEGATIVE_INFINITY;
        if (n >= L) {
            FloatVector a0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY), a1 = a0, a2 = a0, a3 = a0;
            for (int bound4 = n - n % (4 * L); i < bound4; i += 4 * L) {
                a0 = a0.max(FloatVector.fromArray(F, x, off + i));
                a1 = a1.max(FloatVector.fromArray(F, x, off + i + L));
                a2 = a2.max(FloatVector.fromArray(F, x, off + i + 2 * L));
                a3 = a3.max(FloatVector.fromArray(F, x, off + i + 3 * L));
            }
            for (int bound = F.loopBound(n); i < bound; i += L) a0 = a0.max(FloatVector.fromArray(F, x, off + i));
            r = a0.max(a1).max(a2.max(a3)).reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) r = combine(Kind.MAX, r, x[off + i]);
        return r;
    }

    private static float min(float[] x, int off, int n) {
        int i = 0;
        float r = Float.POSITIVE_INFINITY;
        if (n >= L) {
            FloatVector a0 = FloatVector.broadcast(F, Float.POSITIVE_INFINITY), a1 = a0, a2 = a0, a3 = a0;
            for (int bound4 = n - n % (4 * L); i < bound4; i += 4 * L) {
                a0 = a0.min(FloatVector.fromArray(F, x, off + i));
                a1 = a1.min(FloatVector.fromArray(F, x, off + i + L));
                a2 = a2.min(FloatVector.fromArray(F, x, off + i + 2 * L));
                a3 = a3.min(FloatVector.fromArray(F, x, off + i + 3 * L));
            }
            for (int bound = F.loopBound(n); i < bound; i += L) a0 = a0.min(FloatVector.fromArray(F, x, off + i));
            r = a0.min(a1).min(a2.min(a3)).reduceLanes(VectorOperators.MIN);
        }
        for (; i < n; i++) r = combine(Kind.MIN, r, x[off + i]);
        return r;
    }

    /** out[o .. o+n) = combine(out, x[off .. off+n)). */
    private static void vertical(Kind kind, float[] x, int off, float[] out, int o, int n) {
        int i = 0, bound = F.loopBound(n);
        switch (kind) {
            case SUM -> { for (; i < bound; i += L) FloatVector.fromArray(F, out, o + i).add(FloatVector.fromArray(F, x, off + i)).intoArray(out, o + i); }
            case MAX -> { for (; i < bound; i += L) FloatVector.fromArray(F, out, o + i).max(FloatVector.fromArray(F, x, off + i)).intoArray(out, o + i); }
            case MIN -> { for (; i < bound; i += L) FloatVector.fromArray(F, out, o + i).min(FloatVector.fromArray(F, x, off + i)).intoArray(out, o + i); }
        }
        for (; i < n; i++) out[o + i] = combine(kind, out[o + i], x[off + i]);
    }
}
