package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * Float32 conv2d where each output channel reads one input channel of its own group (depthwise,
 * with any channel multiplier). im2col + GEMM degenerates there (per group a GEMM with m = the
 * multiplier, often 1, and k = R*S): measured 1.8 GFLOP/s vs 3.8 here; instead each output
 * plane is R*S shifted multiply-adds of its input plane, vectorised along the row when the
 * stride is 1 (stride-1 layers whose output is as wide as the input go to
 * {@link DepthwiseSameWidth}, which computes a plane as one flat row). Parallel over (image,
 * output channel) for the data passes and over output channels for the weight gradient (each
 * summed over images in order: the same for any thread count). The reference is
 * {@link Conv2dReference}.
 */
final class DepthwiseKernels {
    private DepthwiseKernels() {}

    /**
     * Grouped convs with one input channel per group. A single-channel input with groups = 1
     * (a first layer on grey images) stays with im2col + GEMM: measured 39 vs 9 GFLOP/s here
     * for 5x5 1->32 on 28x28, since the GEMM then has m = 32 rows to work with.
     */
    static boolean applies(ConvGeom g) {
        return g.cg() == 1 && g.groups() > 1;
    }

    /** The input channel output channel k reads. */
    private static int source(ConvGeom g, int k) {
        return k / g.kg();
    }

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0]});

    /**
     * Stride 1: each task copies its input plane into a zero-padded scratch plane, so every tap is
     * a plain vector load and each output vector sums all R*S taps in a register before one
     * store. The shifted-axpy loop below makes R*S read-modify-write passes over the output and
     * runs its 14-wide rows half scalar: measured 4.4 GFLOP/s there on 64 channels of 14x14.
     */
    private static boolean unitStride(ConvGeom g) {
        return g.sh() == 1 && g.sw() == 1;
    }

    /** Output width rounded up to whole vectors: rows are computed that wide and cut to OW when stored. */
    private static int vectorWidth(ConvGeom g) {
        return (g.ow() + L - 1) / L * L;
    }

    /** Width of the padded plane: every tap of every (rounded-up) output column lies inside it. */
    private static int paddedWidth(ConvGeom g) {
        return Math.max(g.w() + 2 * g.pw(), vectorWidth(g) + (g.s() - 1) * g.dw());
    }

    /**
     * This thread's padded-plane buffer, zeroed: a task zeroes it once, then {@link #fillInterior}
     * overwrites only the interior for each plane, since the border is the same for every plane
     * of one call. Zeroing the whole plane per plane, with the ThreadLocal lookups, took longer
     * than the 3x3 multiply-adds of a 14x14 plane.
     */
    private static float[] zeroedPlane(ConvGeom g, int wp) {
        return zeroedScratch((g.h() + 2 * g.ph()) * wp);
    }

    /**
     * This thread's second scratch buffer, at least size floats, contents left over: where
     * {@link DepthwiseSameWidth} lands a plane whose last vector would spill into another task's
     * planes. A new one per task was ~110 KB per call of 64 channels of 14x14 at b128 (a young
     * collection every second or so in a loop of such calls).
     */
    static float[] spillScratch(int size) {
        return Parallel.grow(SCRATCH.get(), 1, size);
    }

    /** This thread's scratch buffer (also {@link DepthwiseSameWidth}'s), its first size floats zeroed. */
    static float[] zeroedScratch(int size) {
        float[] s = Parallel.grow(SCRATCH.get(), 0, size);
        java.util.Arrays.fill(s, 0, size, 0f);
        return s;
    }

    /**
     * Output planes per task: a 14x14 3x3 plane is ~3,500 FLOP, well under a microsecond, so a task
     * takes up to ~260K taps' worth (one image of 64 such planes), but no fewer than four tasks per
     * thread. 3x3 64 14x14 b128, 2 threads, 3 alternations, GFLOP/s: 16K taps a task (9 planes)
     * -> 260K: forward 42-44 -> 66-76, forward+backward 33-36 -> 47-51.
     */
    static int planesPerTask(ConvGeom g) {
        int byWork = 262_144 / Math.max(1, g.ohw() * g.r() * g.s());
        int forThreads = (int) Math.ceil((double) g.n() * g.k() / (4 * Parallel.threads()));
        return Math.max(1, Math.min(g.k(), Math.min(byWork, forThreads)));
    }

    /** The plane at src copied into the interior of p (hp x wp, border zero). */
    private static void fillInterior(float[] in, int src, ConvGeom g, int wp, float[] p) {
        for (int y = 0; y < g.h(); y++) System.arraycopy(in, src + y * g.w(), p, (y + g.ph()) * wp + g.pw(), g.w());
    }

    /**
     * One output plane from its padded input plane, each vector summing its taps in a register
     * before one store. A row's last vector is stored whole: what it writes past OW lies in later
     * rows, which overwrite it (rows go in order); only a vector that would reach past the plane
     * goes through a buffer. A masked store there ran out of line (JFR: checkIndexByLane, firstTrue).
     * 3x3 keeps its nine weights in registers for the whole plane (the JIT cannot hoist them out
     * of the loop: out may be the weight's array as far as it knows).
     */
    private static void planeUnitStride(float[] p, int wp, float[] w, int wk, float b, float[] out, int o, ConvGeom g, float[] row) {
        int ow = g.ow(), dh = g.dh() * wp, dw = g.dw(), end = o + g.ohw();
        FloatVector bias = FloatVector.broadcast(F, b);
        if (g.r() == 3 && g.s() == 3) {
            FloatVector w0 = bc(w[wk]), w1 = bc(w[wk + 1]), w2 = bc(w[wk + 2]), w3 = bc(w[wk + 3]), w4 = bc(w[wk + 4]),
                    w5 = bc(w[wk + 5]), w6 = bc(w[wk + 6]), w7 = bc(w[wk + 7]), w8 = bc(w[wk + 8]);
            for (int y = 0; y < g.oh(); y++, o += ow)
                for (int x = 0; x < ow; x += L) {
                    int r0 = y * wp + x, r1 = r0 + dh, r2 = r1 + dh;
                    // one chain per kernel row: nine dependent multiply-adds would wait on each other's latency
                    FloatVector a = ld(p, r0 + 2 * dw).fma(w2, ld(p, r0 + dw).fma(w1, ld(p, r0).fma(w0, bias)));
                    FloatVector c = ld(p, r1 + 2 * dw).fma(w5, ld(p, r1 + dw).fma(w4, ld(p, r1).mul(w3)));
                    FloatVector e = ld(p, r2 + 2 * dw).fma(w8, ld(p, r2 + dw).fma(w7, ld(p, r2).mul(w6)));
                    FloatVector acc = a.add(c).add(e);
                    if (o + x + L <= end) acc.intoArray(out, o + x);
                    else lastVector(acc, out, o + x, ow - x, row);
                }
            return;
        }
        for (int y = 0; y < g.oh(); y++, o += ow)
            for (int x = 0; x < ow; x += L) {
                FloatVector acc = bias;
                for (int i = 0; i < g.r(); i++) {
                    int base = y * wp + i * dh + x;
                    for (int j = 0; j < g.s(); j++) acc = ld(p, base + j * dw).fma(bc(w[wk + i * g.s() + j]), acc);
                }
                if (o + x + L <= end) acc.intoArray(out, o + x);
                else lastVector(acc, out, o + x, ow - x, row);
            }
    }

    /** The first n lanes of v to out[at], through row: a whole store there would reach into another task's plane. */
    private static void lastVector(FloatVector v, float[] out, int at, int n, float[] row) {
        v.intoArray(row, 0);
        System.arraycopy(row, 0, out, at, n);
    }

    static FloatVector ld(float[] a, int i) {
        return FloatVector.fromArray(F, a, i);
    }

    static FloatVector bc(float v) {
        return FloatVector.broadcast(F, v);
    }

    private static void forwardUnitStride(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g) {
        int hw = g.h() * g.w(), ohw = g.ohw(), wp = paddedWidth(g), rs = g.r() * g.s();
        int per = planesPerTask(g), blocks = (g.k() + per - 1) / per;
        Parallel.forEach(g.n() * blocks, task -> {
            int n = task / blocks, k0 = (task % blocks) * per;
            float[] p = zeroedPlane(g, wp), row = new float[L];
            for (int k = k0; k < Math.min(g.k(), k0 + per); k++) {
                fillInterior(in, inOff + (n * g.c() + source(g, k)) * hw, g, wp, p);
                planeUnitStride(p, wp, w, wOff + k * rs, bias == null ? 0f : bias[bOff + k], out, (n * g.k() + k) * ohw, g, row);
            }
        });
    }

    static void forward(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g) {
        if (DepthwiseSameWidth.applies(g)) {
            DepthwiseSameWidth.forward(out, in, inOff, w, wOff, bias, bOff, g);
            return;
        }
        if (unitStride(g)) {
            forwardUnitStride(out, in, inOff, w, wOff, bias, bOff, g);
            return;
        }
        int hw = g.h() * g.w(), ohw = g.ohw();
        Parallel.forEach(g.n() * g.k(), t -> {
            int n = t / g.k(), k = t % g.k();
            int o = (n * g.k() + k) * ohw;
            java.util.Arrays.fill(out, o, o + ohw, bias == null ? 0f : bias[bOff + k]);
            int src = inOff + (n * g.c() + source(g, k)) * hw;
            for (int i = 0; i < g.r(); i++)
                for (int j = 0; j < g.s(); j++) {
                    float wv = w[wOff + (k * g.r() + i) * g.s() + j];
                    int dx = j * g.dw() - g.pw(), x0 = g.firstColumn(dx), x1 = g.endColumn(dx, x0);
                    for (int y = 0; y < g.oh(); y++) {
                        int iy = y * g.sh() - g.ph() + i * g.dh();
                        if (iy < 0 || iy >= g.h()) continue;
                        int row = src + iy * g.w() + dx, dst = o + y * g.ow();
                        if (g.sw() == 1) axpy(wv, in, row + x0, out, dst + x0, x1 - x0);
                        else for (int x = x0; x < x1; x++) out[dst + x] += wv * in[row + x * g.sw()];
                    }
                }
        });
    }

    /** dIn, overwritten. Tasks own input planes: (image, input channel), over its kg output channels. */
    static void backwardData(float[] dIn, float[] dOut, int dOff, float[] w, int wOff, ConvGeom g) {
        if (unitStride(g) && g.kg() == 1 && g.ph() <= (g.r() - 1) * g.dh() && g.pw() <= (g.s() - 1) * g.dw()) {
            // With stride 1 and one output per input channel, the input gradient is itself a depthwise
            // convolution: of dOut, padded by (kernel - 1) * dilation - pad, with the kernel turned around.
            int rs = g.r() * g.s();
            float[] flipped = new float[g.k() * rs];
            for (int k = 0; k < g.k(); k++)
                for (int t = 0; t < rs; t++) flipped[k * rs + t] = w[wOff + k * rs + rs - 1 - t];
            ConvGeom back = new ConvGeom(g.n(), g.k(), g.oh(), g.ow(), g.c(), g.r(), g.s(), g.h(), g.w(), 1, 1,
                    (g.r() - 1) * g.dh() - g.ph(), (g.s() - 1) * g.dw() - g.pw(), g.dh(), g.dw(), g.groups());
            forward(dIn, dOut, dOff, flipped, 0, null, 0, back);
            return;
        }
        int hw = g.h() * g.w(), ohw = g.ohw();
        Parallel.forEach(g.n() * g.c(), t -> {
            int n = t / g.c(), c = t % g.c();
            int dst = (n * g.c() + c) * hw;
            java.util.Arrays.fill(dIn, dst, dst + hw, 0f);
            for (int k = c * g.kg(); k < (c + 1) * g.kg(); k++) {
                int go = dOff + (n * g.k() + k) * ohw;
                for (int i = 0; i < g.r(); i++)
                    for (int j = 0; j < g.s(); j++) {
                        float wv = w[wOff + (k * g.r() + i) * g.s() + j];
                        int dx = j * g.dw() - g.pw(), x0 = g.firstColumn(dx), x1 = g.endColumn(dx, x0);
                        for (int y = 0; y < g.oh(); y++) {
                            int iy = y * g.sh() - g.ph() + i * g.dh();
                            if (iy < 0 || iy >= g.h()) continue;
                            int row = dst + iy * g.w() + dx, src = go + y * g.ow();
                            if (g.sw() == 1) axpy(wv, dOut, src + x0, dIn, row + x0, x1 - x0);
                            else for (int x = x0; x < x1; x++) dIn[row + x * g.sw()] += wv * dOut[src + x];
                        }
                    }
            }
        });
    }

    /** Stride 1, 3x3: one task per output channel, see {@link #weightTaps3x3}. */
    private static void backwardWeightUnitStride(float[] dW, float[] dOut, int dOff, float[] in, int inOff, ConvGeom g) {
        int wp = paddedWidth(g);
        Parallel.forEach(g.k(), k -> weightTaps3x3(dW, dOut, dOff, in, inOff, g, k, zeroedPlane(g, wp), wp));
    }

    /**
     * dW of output channel k, 3x3, stride 1: one pass per image over its padded plane, nine
     * vector accumulators (one per tap) against each vector of dOut. The last vector of a dOut
     * row is a full load with the lanes past OW zeroed by a blend (copied through a buffer at the
     * array's very end), so the rounded-up columns add nothing. A method of its own, not part of
     * a lambda with the other sizes' branches: inside one, C2 left the vector calls out of line
     * (JFR: Float256Mask.firstTrue and FloatVector.ldOp on top) and ran at 3 GFLOP/s.
     */
    private static void weightTaps3x3(float[] dW, float[] dOut, int dOff, float[] in, int inOff, ConvGeom g, int k, float[] p, int wp) {
        int hw = g.h() * g.w(), ohw = g.ohw(), ow = g.ow(), full = ow / L * L, dh = g.dh() * wp, dw = g.dw();
        VectorMask<Float> tail = F.indexInRange(full, ow);
        FloatVector zero = FloatVector.zero(F), a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero, a8 = zero;
        float[] last = new float[L];
        for (int n = 0; n < g.n(); n++) {
            fillInterior(in, inOff + (n * g.c() + source(g, k)) * hw, g, wp, p);
            int go = dOff + (n * g.k() + k) * ohw;
            for (int y = 0; y < g.oh(); y++, go += ow)
                for (int x = 0; x < ow; x += L) {
                    FloatVector dv;
                    if (x < full) dv = ld(dOut, go + x);
                    else if (go + x + L <= dOut.length) dv = zero.blend(ld(dOut, go + x), tail);
                    else {
                        System.arraycopy(dOut, go + x, last, 0, ow - x);
                        dv = ld(last, 0);
                    }
                    int r0 = y * wp + x, r1 = r0 + dh, r2 = r1 + dh;
                    a0 = ld(p, r0).fma(dv, a0);
                    a1 = ld(p, r0 + dw).fma(dv, a1);
                    a2 = ld(p, r0 + 2 * dw).fma(dv, a2);
                    a3 = ld(p, r1).fma(dv, a3);
                    a4 = ld(p, r1 + dw).fma(dv, a4);
                    a5 = ld(p, r1 + 2 * dw).fma(dv, a5);
                    a6 = ld(p, r2).fma(dv, a6);
                    a7 = ld(p, r2 + dw).fma(dv, a7);
                    a8 = ld(p, r2 + 2 * dw).fma(dv, a8);
                }
        }
        // Spelled out: handing the nine vectors to a shared helper (varargs) made C2 box them in the
        // loop above too: the weight gradient fell from ~25 to ~3 GFLOP/s (measured).
        int o = k * 9;
        dW[o] = Simd.sumLanes(a0);
        dW[o + 1] = Simd.sumLanes(a1);
        dW[o + 2] = Simd.sumLanes(a2);
        dW[o + 3] = Simd.sumLanes(a3);
        dW[o + 4] = Simd.sumLanes(a4);
        dW[o + 5] = Simd.sumLanes(a5);
        dW[o + 6] = Simd.sumLanes(a6);
        dW[o + 7] = Simd.sumLanes(a7);
        dW[o + 8] = Simd.sumLanes(a8);
    }

    /** dW, overwritten: one task per output channel, images summed in order. */
    static void backwardWeight(float[] dW, float[] dOut, int dOff, float[] in, int inOff, ConvGeom g) {
        if (DepthwiseSameWidth.applies(g) && g.r() == 3 && g.s() == 3) {
            DepthwiseSameWidth.backwardWeight3x3(dW, dOut, dOff, in, inOff, g);
            return;
        }
        if (unitStride(g) && g.r() == 3 && g.s() == 3) {
            backwardWeightUnitStride(dW, dOut, dOff, in, inOff, g);
            return;
        }
        int hw = g.h() * g.w(), ohw = g.ohw(), rs = g.r() * g.s();
        Parallel.forEach(g.k(), k -> {
            for (int i = 0; i < g.r(); i++)
                for (int j = 0; j < g.s(); j++) {
                    int dx = j * g.dw() - g.pw(), x0 = g.firstColumn(dx), x1 = g.endColumn(dx, x0);
                    float acc = 0;
                    for (int n = 0; n < g.n(); n++) {
                        int src = inOff + (n * g.c() + source(g, k)) * hw, go = dOff + (n * g.k() + k) * ohw;
                        for (int y = 0; y < g.oh(); y++) {
                            int iy = y * g.sh() - g.ph() + i * g.dh();
                            if (iy < 0 || iy >= g.h()) continue;
                            int row = src + iy * g.w() + dx, o = go + y * g.ow();
                            if (g.sw() == 1) acc += dot(in, row + x0, dOut, o + x0, x1 - x0);
                            else for (int x = x0; x < x1; x++) acc += in[row + x * g.sw()] * dOut[o + x];
                        }
                    }
                    dW[k * rs + i * g.s() + j] = acc;
                }
        });
    }

    /** y[yo .. yo+n) += a * x[xo .. xo+n). */
    private static void axpy(float a, float[] x, int xo, float[] y, int yo, int n) {
        int i = 0;
        if (n >= L) {
            FloatVector av = FloatVector.broadcast(F, a);
            for (int bound = F.loopBound(n); i < bound; i += L)
                FloatVector.fromArray(F, x, xo + i).fma(av, FloatVector.fromArray(F, y, yo + i)).intoArray(y, yo + i);
        }
        for (; i < n; i++) y[yo + i] += a * x[xo + i];
    }

    private static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int i = 0;
        float s = 0;
        if (n >= L) {
            FloatVector acc = FloatVector.zero(F);
            for (int bound = F.loopBound(n); i < bound; i += L)
                acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
            s = Simd.sumLanes(acc);
        }
        for (; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }
}
