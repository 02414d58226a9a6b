package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.SplittableRandom;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/** Shared test data: random shapes with odd sizes and size-1 dims, values, and comparisons. */
final class Fixtures {
    private Fixtures() {}

    /** Shapes of rank 0..4 with sizes 1..maxDim (many not divisible by any vector width). */
    static Arbitrary<int[]> shapes(int maxRank, int maxDim) {
        return Arbitraries.integers().between(1, maxDim).array(int[].class).ofMinSize(0).ofMaxSize(maxRank);
    }

    /** A pair of shapes that broadcast: the second drops leading dims and sets some to 1, or vice versa. */
    static Arbitrary<int[][]> broadcastPairs() {
        return broadcastPairs(4, 11);
    }

    /** Broadcasting pairs of rank up to maxRank with sizes up to maxDim. */
    static Arbitrary<int[][]> broadcastPairs(int maxRank, int maxDim) {
        return Combinators.combine(shapes(maxRank, maxDim), Arbitraries.longs(), Arbitraries.of(true, false)).as((s, seed, swap) -> {
            SplittableRandom r = new SplittableRandom(seed);
            int drop = s.length == 0 ? 0 : r.nextInt(s.length + 1);
            int[] t = new int[s.length - drop];
            for (int i = 0; i < t.length; i++) t[i] = r.nextInt(3) == 0 ? 1 : s[i + drop];
            // and some dims of s itself set to 1 where t keeps the size
            int[] u = s.clone();
            for (int i = drop; i < s.length; i++) if (t[i - drop] != 1 && r.nextInt(4) == 0) u[i] = 1;
            return swap ? new int[][] {t, u} : new int[][] {u, t};
        });
    }

    /** Uniform values in [lo, hi) as float64, rounded to float32 so both dtypes see the same numbers. */
    static Tensor values(long seed, double lo, double hi, int... dims) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = Shape.of(dims).numel();
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + (hi - lo) * r.nextDouble());
        return Tensor.of(v, dims);
    }

    /**
     * n evenly spaced values in [lo, hi) in a random order: all distinct, (hi - lo) / n apart, so
     * that a finite-difference step (GradCheck's 1e-6) never crosses a max's kink between two
     * nearly equal inputs (random values once came 1.2e-7 apart in one max-pool window).
     */
    static Tensor distinct(long seed, double lo, double hi, int... dims) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = Shape.of(dims).numel();
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = lo + (hi - lo) * i / n;
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            double t = v[i];
            v[i] = v[j];
            v[j] = t;
        }
        return Tensor.of(v, dims);
    }

    /** Values with |x| in [minAbs, maxAbs] and random sign: away from kinks at 0. */
    static Tensor awayFromZero(long seed, double minAbs, double maxAbs, int... dims) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = Shape.of(dims).numel();
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (float) ((r.nextBoolean() ? 1 : -1) * (minAbs + (maxAbs - minAbs) * r.nextDouble()));
        return Tensor.of(v, dims);
    }

    /** Fails unless fast (float32) and reference (float64) agree elementwise within atol + rtol * |ref|. */
    static void assertClose(String what, Tensor fast, Tensor reference, double atol, double rtol) {
        if (!fast.shape().equals(reference.shape()))
            fail(what + ": shape " + fast.shape() + " vs reference " + reference.shape());
        double[] a = fast.toArray(), b = reference.toArray();
        for (int i = 0; i < a.length; i++) {
            boolean bothNaN = Double.isNaN(a[i]) && Double.isNaN(b[i]);
            boolean sameInf = Double.isInfinite(b[i]) && a[i] == b[i];
            if (bothNaN || sameInf) continue;
            // float32 overflows where float64 does not: compare saturated values as equal
            if (Double.isInfinite(a[i]) && Math.abs(b[i]) > Float.MAX_VALUE && Math.signum(a[i]) == Math.signum(b[i])) continue;
            if (!(Math.abs(a[i] - b[i]) <= atol + rtol * Math.abs(b[i])))
                fail(what + ": element " + i + " of shape " + fast.shape() + " is " + a[i] + ", reference " + b[i]);
        }
    }

    /**
     * A random 3x3 stride-1 layer (pad 0 to 2, 16 to 35 channels in and out, up to maxImages images) that the Winograd
     * route takes, with 4x4 output tiles when f4, else 2x2; sizes whose planes often end in a partial vector block.
     */
    static io.featurefuse.engine.cpu.ConvGeom winogradLayer(java.util.SplittableRandom r, boolean f4, int maxImages) {
        int pad = r.nextInt(3), n = 1 + r.nextInt(maxImages), cin = 16 + r.nextInt(20), k = 16 + r.nextInt(20);
        while (true) {
            int h = 5 + r.nextInt(f4 ? 36 : 24), w = 5 + r.nextInt(f4 ? 36 : 24);
            var g = new io.featurefuse.engine.cpu.ConvGeom(n, cin, h, w, k, 3, 3, h + 2 * pad - 2, w + 2 * pad - 2, 1, 1, pad, pad, 1, 1, 1);
            if (io.featurefuse.engine.cpu.Conv2dKernels.usesWinograd(g) && io.featurefuse.engine.cpu.Conv2dKernels.usesWinograd4x4(g) == f4) return g;
        }
    }
}
