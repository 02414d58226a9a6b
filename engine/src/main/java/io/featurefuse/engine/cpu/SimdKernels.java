package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Fast float32 element-wise kernels on the Vector API. Same signatures as {@link ScalarKernels};
 * runs with unit or zero (broadcast) strides take the vector path; a unary run's tail, an in-place
 * binary run's head and tail (see binary) and any other stride fall back to the float64
 * definition rounded to float (which for + - * / gives the same correctly rounded result as float
 * arithmetic).
 * Each op has its own loop: the vector operator must be a compile-time constant for C2 to
 * turn it into instructions.
 */
public final class SimdKernels {
    // Transcendental functions (exp, log, tanh, pow, and sigmoid, GELU, SiLU built on them) take the
    // scalar loop, Math.* per element: the Vector API's lanewise EXP/LOG/TANH/POW give other bits once
    // C2 compiles them (SVML) than before (Math.* per lane), so the same training run could differ
    // from step to step of the JIT. HotSpot's Math intrinsics agree across tiers.
    private SimdKernels() {}

    /** Runs from this length into a line-placed output start their vector loop on a line (see lineHead). */
    static final int LINE_HEAD_MIN = 2048;

    private static final FloatVector ZERO = FloatVector.zero(F);
    private static final FloatVector ONE = FloatVector.broadcast(F, 1f);
    private static final FloatVector HALF = FloatVector.broadcast(F, 0.5f);

    /** The lanes at element i of an operand with stride 0 (a lane-wide copy at base) or 1. */
    private static FloatVector ld(float[] x, int base, int stride, int i) {
        return FloatVector.fromArray(F, x, base + i * stride);
    }

    /**
     * Elements of a run of n written from out[oo] to leave to a head before the vector loop, so
     * that the loop's stores begin at an index congruent to Simd.LINE_START, on a 64-byte line: one
     * line a store instead of two. Only where out's placement is known (a large array, which G1
     * starts on a region, see LineArrays) and the run is long enough to pay for the head (and, in
     * place, the tail it brings). Measured with binary's head and tail as they are, against neither
     * (one JVM alternating per call, median of per-call ratios): c = a + b over 16M floats (fuse
     * bench's add rows) +3.4%, row broadcast +3.3% on 2 threads, +3.5% / +3.6% on one; in L2, runs
     * over 1 MB arrays, 2048 floats +6.7% (+7.2% at another offset), 4096 +9.9%, in place 2048
     * +2.9%, 4096 +8.2%. Heads and tails one float at a time cost more than they gained on 1024
     * (-12%) and mostly on 2048 (-0.4%, -5%; in place +9%).
     */
    static int lineHead(float[] out, int oo, int n) {
        return n >= LINE_HEAD_MIN && LineArrays.placedOnLines(out) ? Math.floorMod(Simd.LINE_START - oo, L) : 0;
    }

    /** out[oo + i] = op(a[ao + i*as], b[bo + i*bs]) for i in [0, n); output stride 1. */
    public static void binary(BinaryOp op, float[] a, int ao, int as, float[] b, int bo, int bs,
                              float[] out, int oo, int n) {
        int i = 0;
        // pow takes the scalar loop below (see the note on transcendental functions)
        if (op != BinaryOp.POW && as <= 1 && bs <= 1 && n >= L) {
            // A broadcast operand (stride 0) is read from a lane-wide copy of its one value at a fixed
            // offset, so that both operands are plain loads: choosing between a broadcast vector and a
            // load inside the loop made C2 box every vector (measured: gigabytes of garbage a second).
            float[] av = a, bv = b;
            int ab = ao, bb = bo;
            if (as == 0) { av = new float[L]; java.util.Arrays.fill(av, a[ao]); ab = 0; }
            if (bs == 0) { bv = new float[L]; java.util.Arrays.fill(bv, b[bo]); bb = 0; }
            // Where out is neither operand, the head and the tail are one vector each, overlapping the
            // loop's: an element stored twice gets the same value twice. In place, they go one element
            // at a time (the float64 form gives the vector's bits for every op here but pow). Against
            // a tail one float at a time, same runs in one JVM: 1000-float runs +24%, 196 (a 14 x 14
            // plane, per-channel broadcasts) +15% in L1 and +3.1% in L2.
            boolean overlap = out != a && out != b;
            int head = lineHead(out, oo, n);
            if (head > 0 && overlap) vectors(op, av, ab, as, bv, bb, bs, out, oo, L);
            else for (; i < head; i++) out[oo + i] = (float) op.apply(a[ao + i * as], b[bo + i * bs]);
            i = head + vectors(op, av, ab + head * as, as, bv, bb + head * bs, bs, out, oo + head, F.loopBound(n - head));
            if (overlap && i < n) {
                vectors(op, av, ab + (n - L) * as, as, bv, bb + (n - L) * bs, bs, out, oo + n - L, L);
                i = n;
            }
        }
        for (; i < n; i++) out[oo + i] = (float) op.apply(a[ao + i * as], b[bo + i * bs]);
    }

    /** binary's vector loop for op over elements [0, bound), bound a multiple of L; returns bound. */
    private static int vectors(BinaryOp op, float[] av, int ab, int as, float[] bv, int bb, int bs, float[] out, int o, int bound) {
        return switch (op) {
            case ADD -> add(av, ab, as, bv, bb, bs, out, o, bound);
            case SUB -> sub(av, ab, as, bv, bb, bs, out, o, bound);
            case MUL -> mul(av, ab, as, bv, bb, bs, out, o, bound);
            case DIV -> div(av, ab, as, bv, bb, bs, out, o, bound);
            case MAX -> max(av, ab, as, bv, bb, bs, out, o, bound);
            case MIN -> min(av, ab, as, bv, bb, bs, out, o, bound);
            case MAX_MASK -> maxMask(av, ab, as, bv, bb, bs, out, o, bound);
            case EQ_MASK -> eqMask(av, ab, as, bv, bb, bs, out, o, bound);
            case RELU_GRAD -> reluGrad(av, ab, as, bv, bb, bs, out, o, bound);
            case ADD_RELU -> addRelu(av, ab, as, bv, bb, bs, out, o, bound);
            case POW -> throw new IllegalArgumentException("pow has no vector loop");
        };
    }

    // binary's loops, one method each over elements [0, bound) (a multiple of L, returned), each with
    // its own profile and, when C2 does not inline it, its own compilation. With all the loops in
    // binary's switch, some training runs got a compilation of binary that called
    // FloatVector.lanewise out of line for ADD (the autograd gradient sum), boxing every vector:
    // JFR showed ~180 MB/s of float[] from FloatVector.lanewiseTemplate under SimdKernels.binary,
    // and that run took 22 young collections in 60 steps instead of 2-3. The likelier cause, found
    // later: a second float species in the JVM mixed the Vector API's type profiles (see Simd).
    private static int add(float[] a, int ao, int as, float[] b, int bo, int bs, float[] out, int oo, int bound) {
        for (int i = 0; i < bound; i += L) ld(a, ao, as, i).add(ld(b, bo, bs, i)).intoArray(out, oo + i);
        return bound;
    }

    private static int sub(float[] a, int ao, int as, float[] b, int bo, int bs, float[] out, int oo, int bound) {
        for (int i = 0; i < bound; i += L) ld(a, ao, as, i).sub(ld(b, bo, bs, i)).intoArray(out, oo + i);
        return bound;
    }

    private static int mul(float[] a, int ao, int as, float[] b, int bo, int bs, float[] out, int oo, int bound) {
        for (int i = 0; i < bound; i += L) ld(a, ao, as, i).mul(ld(b, bo, bs, i)).intoArray(out, oo + i);
        return bound;
    }

    private static int div(float[] a, int ao, int as, float[] b, int bo, int bs, float[] out, int oo, int bound) {
        for (int i = 0; i < bound; i += L) ld(a, ao, as, i).div(ld(b, bo, bs, i)).intoArray(out, oo + i);
        return bound;
    }

    private static int max(float[] a, int ao, int as, float[] b, int bo, int bs, float[] out, int oo, int bound) {
        for (int i = 0; i < bound; i += L) ld(a, ao, as, i).max(ld(b, bo, bs, i)).intoArray(out, oo + i);
        return bound;
    }

    private static int min(float[] a, int ao, int as, float[] b, int bo, int bs, float[] out, int oo, int bound) {
        for (int i = 0; i < bound; i += L) ld(a, ao, as, i).min(ld(b, bo, bs, i)).intoArray(out, oo + i);
        return bound;
    }

    private static int maxMask(float[] a, int ao, int as, float[] b, int bo, int bs, float[] out, int oo, int bound) {
        for (int i = 0; i < bound; i += L) {
            FloatVector x = ld(a, ao, as, i), y = ld(b, bo, bs, i);
            ZERO.blend(ONE, x.compare(VectorOperators.GT, y)).blend(HALF, x.compare(VectorOperators.EQ, y)).intoArray(out, oo + i);
        }
        return bound;
    }

    private static int eqMask(float[] a, int ao, int as, float[] b, int bo, int bs, float[] out, int oo, int bound) {
        for (int i = 0; i < bound; i += L) ZERO.blend(ONE, ld(a, ao, as, i).compare(VectorOperators.EQ, ld(b, bo, bs, i))).intoArray(out, oo + i);
        return bound;
    }

    private static int reluGrad(float[] a, int ao, int as, float[] b, int bo, int bs, float[] out, int oo, int bound) {
        for (int i = 0; i < bound; i += L) ZERO.blend(ld(a, ao, as, i), ld(b, bo, bs, i).compare(VectorOperators.GT, 0f)).intoArray(out, oo + i);
        return bound;
    }

    private static int addRelu(float[] a, int ao, int as, float[] b, int bo, int bs, float[] out, int oo, int bound) {
        for (int i = 0; i < bound; i += L) ld(a, ao, as, i).add(ld(b, bo, bs, i)).max(ZERO).intoArray(out, oo + i);
        return bound;
    }

    /** y[yo + i*ys] = a y[yo + i*ys] + b x[xo + i*xs] for i in [0, n), float32 products and sum as the reference's order. */
    public static void scaleAndAdd(float a, float[] y, int yo, int ys, float b, float[] x, int xo, int xs, int n) {
        int i = 0;
        if (ys == 1 && xs == 1 && n >= L) {
            for (int bound = F.loopBound(n); i < bound; i += L)
                FloatVector.fromArray(F, y, yo + i).mul(a).add(FloatVector.fromArray(F, x, xo + i).mul(b)).intoArray(y, yo + i);
        }
        for (; i < n; i++) y[yo + i * ys] = a * y[yo + i * ys] + b * x[xo + i * xs];
    }

    /** out[oo + i*os] = op(x[xo + i*xs]; p, q) for i in [0, n). */
    public static void unary(UnaryOp op, float[] x, int xo, int xs, float[] out, int oo, int os, int n,
                             double p, double q) {
        int i = 0;
        if (xs == 1 && os == 1 && n >= L) {
            int bound = F.loopBound(n);
            float pf = (float) p, qf = (float) q;
            switch (op) {
                case COPY -> { for (; i < bound; i += L) FloatVector.fromArray(F, x, xo + i).intoArray(out, oo + i); }
                case NEG -> { for (; i < bound; i += L) FloatVector.fromArray(F, x, xo + i).neg().intoArray(out, oo + i); }
                case ABS -> { for (; i < bound; i += L) FloatVector.fromArray(F, x, xo + i).abs().intoArray(out, oo + i); }
                case SIGN -> {
                    for (; i < bound; i += L) {
                        FloatVector v = FloatVector.fromArray(F, x, xo + i);
                        // zeros and NaN as they are: Math.signum(-0.0) is -0.0
                        ZERO.blend(ONE, v.compare(VectorOperators.GT, 0f)).blend(ONE.neg(), v.compare(VectorOperators.LT, 0f))
                                .blend(v, v.test(VectorOperators.IS_NAN).or(v.compare(VectorOperators.EQ, 0f))).intoArray(out, oo + i);
                    }
                }
                case SQRT -> { for (; i < bound; i += L) FloatVector.fromArray(F, x, xo + i).sqrt().intoArray(out, oo + i); }
                case RELU -> { for (; i < bound; i += L) FloatVector.fromArray(F, x, xo + i).max(ZERO).intoArray(out, oo + i); }
                case LEAKY_RELU -> {
                    for (; i < bound; i += L) {
                        FloatVector v = FloatVector.fromArray(F, x, xo + i);
                        v.mul(pf).blend(v, v.compare(VectorOperators.GT, 0f)).intoArray(out, oo + i);
                    }
                }
                case CLAMP -> { for (; i < bound; i += L) FloatVector.fromArray(F, x, xo + i).max(pf).min(qf).intoArray(out, oo + i); }
                case POW_SCALAR -> {
                    if (p == 2) { for (; i < bound; i += L) { FloatVector v = FloatVector.fromArray(F, x, xo + i); v.mul(v).intoArray(out, oo + i); } }
                    else if (p == 1) { for (; i < bound; i += L) FloatVector.fromArray(F, x, xo + i).intoArray(out, oo + i); }
                    else if (p == 0.5) { for (; i < bound; i += L) FloatVector.fromArray(F, x, xo + i).sqrt().intoArray(out, oo + i); }
                    // other powers take the scalar loop below (see the note on transcendental functions)
                }
                case RELU_MASK -> { for (; i < bound; i += L) ZERO.blend(ONE, FloatVector.fromArray(F, x, xo + i).compare(VectorOperators.GT, 0f)).intoArray(out, oo + i); }
                case LEAKY_MASK -> {
                    FloatVector slope = FloatVector.broadcast(F, pf);
                    for (; i < bound; i += L) slope.blend(ONE, FloatVector.fromArray(F, x, xo + i).compare(VectorOperators.GT, 0f)).intoArray(out, oo + i);
                }
                case CLAMP_MASK -> {
                    for (; i < bound; i += L) {
                        FloatVector v = FloatVector.fromArray(F, x, xo + i);
                        VectorMask<Float> in = v.compare(VectorOperators.GE, pf).and(v.compare(VectorOperators.LE, qf));
                        ZERO.blend(ONE, in).intoArray(out, oo + i);
                    }
                }
            }
        }
        for (; i < n; i++) out[oo + i * os] = (float) op.apply(x[xo + i * xs], p, q);
    }
}
