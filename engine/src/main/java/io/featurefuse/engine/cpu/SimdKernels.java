package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Fast float32 element-wise kernels on the Vector API. Same signatures as {@link ScalarKernels};
 * runs with unit or zero (broadcast) strides take the vector path, and the tail, a long run's
 * head (see lineHead) and any other stride fall back to the float64 definition rounded to float
 * (which for + - * / gives the same correctly rounded result as float arithmetic).
 * Each op has its own loop: the vector operator must be a compile-time constant for C2 to
 * turn it into instructions.
 */
public final class SimdKernels {
    // Transcendental functions (exp, log, tanh, pow, and sigmoid, GELU, SiLU built on them) take the
    // scalar loop, Math.* per element: the Vector API's lanewise EXP/LOG/TANH/POW give other bits once
    // C2 compiles them (SVML) than before (Math.* per lane), so the same training run could differ
    // from step to step of the JIT. HotSpot's Math intrinsics agree across tiers.
    private SimdKernels() {}

    /** Runs from this length take their first elements one at a time so that the vector stores start on a line (see lineHead). */
    static final int LINE_HEAD_MIN = 1024;

    private static final FloatVector ZERO = FloatVector.zero(F);
    private static final FloatVector ONE = FloatVector.broadcast(F, 1f);
    private static final FloatVector HALF = FloatVector.broadcast(F, 0.5f);

    /** The lanes at element i of an operand with stride 0 (a lane-wide copy at base) or 1. */
    private static FloatVector ld(float[] x, int base, int stride, int i) {
        return FloatVector.fromArray(F, x, base + i * stride);
    }

    /**
     * Elements of a run of n written from out[oo] to take one at a time before the vector loop, so
     * that its stores begin at an index congruent to Simd.LINE_START: on a 64-byte line where out
     * is a large array (G1 starts those on a region, see LineArrays), one line a store instead of
     * two. The scalar forms give the same bits as the vector ones wherever a kernel uses this
     * (float arithmetic, or float64 rounded once to float for + - * / and sqrt), so which elements
     * take which path changes no result. Measured, c = a + b over 16M floats (fuse bench's add
     * rows; one JVM alternating per call, median of per-call ratios): 2 threads +4.0% to +5.4%
     * (five runs), row broadcast +0.5% to +6.3%; 1 thread +5.1%, row broadcast +5.6%. The model's
     * train step and inference, the same way: +1.1%, -0.8% (within their noise). Shorter runs sit in
     * cache, where a straddling vector costs little, and the scalar head would cost more than it saves.
     */
    static int lineHead(int oo, int n) {
        return n >= LINE_HEAD_MIN ? Math.floorMod(Simd.LINE_START - oo, L) : 0;
    }

    /** out[oo + i] = op(a[ao + i*as], b[bo + i*bs]) for i in [0, n); output stride 1. */
    public static void binary(BinaryOp op, float[] a, int ao, int as, float[] b, int bo, int bs,
                              float[] out, int oo, int n) {
        int i = 0;
        if (as <= 1 && bs <= 1 && n >= L) {
            // A broadcast operand (stride 0) is read from a lane-wide copy of its one value at a fixed
            // offset, so that both operands are plain loads: choosing between a broadcast vector and a
            // load inside the loop made C2 box every vector (measured: gigabytes of garbage a second).
            float[] av = a, bv = b;
            int ab = ao, bb = bo;
            if (as == 0) { av = new float[L]; java.util.Arrays.fill(av, a[ao]); ab = 0; }
            if (bs == 0) { bv = new float[L]; java.util.Arrays.fill(bv, b[bo]); bb = 0; }
            int head = op == BinaryOp.POW ? 0 : lineHead(oo, n);
            for (; i < head; i++) out[oo + i] = (float) op.apply(a[ao + i * as], b[bo + i * bs]);
            ab += head * as;
            bb += head * bs;
            int o = oo + head, bound = F.loopBound(n - head);
            i = head + switch (op) {
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
                case POW -> 0; // the scalar loop below (see the note on transcendental functions)
            };
        }
        for (; i < n; i++) out[oo + i] = (float) op.apply(a[ao + i * as], b[bo + i * bs]);
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
            for (int head = lineHead(yo, n); i < head; i++) y[yo + i] = a * y[yo + i] + b * x[xo + i];
            for (int bound = i + F.loopBound(n - i); i < bound; i += L)
                FloatVector.fromArray(F, y, yo + i).mul(a).add(FloatVector.fromArray(F, x, xo + i).mul(b)).intoArray(y, yo + i);
        }
        for (; i < n; i++) y[yo + i * ys] = a * y[yo + i * ys] + b * x[xo + i * xs];
    }

    /** out[oo + i*os] = op(x[xo + i*xs]; p, q) for i in [0, n). */
    public static void unary(UnaryOp op, float[] x, int xo, int xs, float[] out, int oo, int os, int n,
                             double p, double q) {
        int i = 0;
        if (xs == 1 && os == 1 && n >= L) {
            float pf = (float) p, qf = (float) q;
            // With p or q between floats (leaky_relu's slope 0.01, say) the float64 form can round
            // otherwise than the vector's float one, and pow(-0, 0.5) is +0 where sqrt gives -0: such
            // a run keeps all its elements on one path.
            boolean sameBits = pf == p && qf == q && op != UnaryOp.POW_SCALAR;
            for (int head = sameBits ? lineHead(oo, n) : 0; i < head; i++) out[oo + i] = (float) op.apply(x[xo + i], p, q);
            int bound = i + F.loopBound(n - i);
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
