package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;

/**
 * Float32 conv2d where each output channel reads one input channel of its own group (depthwise,
 * with any channel multiplier). im2col + GEMM degenerates there (per group a GEMM with m = the
 * multiplier, often 1, and k = R*S): measured 1.8 GFLOP/s vs 3.8 here; instead each output
 * plane is R*S shifted multiply-adds of its input plane, vectorised along the row when the
 * stride is 1. Parallel over (image, output channel) for the data passes and over output
 * channels for the weight gradient (each summed over images in order: the same for any thread
 * count). The reference is {@link Conv2dReference}.
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

    /** P (hp x wp, zero border) from the plane at src; hp = h + 2 ph holds every tap's row for stride 1. */
    private static float[] padded(float[] in, int src, ConvGeom g, int wp) {
        int hp = g.h() + 2 * g.ph();
        float[][] scratch = SCRATCH.get();
        if (scratch[0].length < hp * wp) scratch[0] = new float[hp * wp];
        float[] p = scratch[0];
        java.util.Arrays.fill(p, 0, hp * wp, 0f);
        for (int y = 0; y < g.h(); y++) System.arraycopy(in, src + y * g.w(), p, (y + g.ph()) * wp + g.pw(), g.w());
        return p;
    }

    private static float[] rowBuffer(int n) {
        float[][] scratch = SCRATCH.get();
        if (scratch[1].length < n) scratch[1] = new float[n];
        return scratch[1];
    }

    private static void forwardUnitStride(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g) {
        int hw = g.h() * g.w(), ohw = g.ohw(), wp = paddedWidth(g), vw = vectorWidth(g), rs = g.r() * g.s();
        // A 14x14 plane is ~3,500 FLOP: tasks take several planes so dispatch does not dominate.
        int per = Math.max(1, Math.min(g.k(), 16_384 / Math.max(1, ohw * rs))), blocks = (g.k() + per - 1) / per;
        Parallel.forEach(g.n() * blocks, task -> {
          int n = task / blocks, k0 = (task % blocks) * per;
          for (int k = k0; k < Math.min(g.k(), k0 + per); k++) {
            float[] p = padded(in, inOff + (n * g.c() + source(g, k)) * hw, g, wp), row = rowBuffer(L);
            int o = (n * g.k() + k) * ohw, wk = wOff + k * rs;
            float b = bias == null ? 0f : bias[bOff + k];
            for (int y = 0; y < g.oh(); y++)
                for (int x = 0; x < vw; x += L) {
                    FloatVector acc = FloatVector.broadcast(F, b);
                    for (int i = 0; i < g.r(); i++) {
                        int base = (y + i * g.dh()) * wp + x;
                        for (int j = 0; j < g.s(); j++)
                            acc = FloatVector.fromArray(F, p, base + j * g.dw()).fma(FloatVector.broadcast(F, w[wk + i * g.s() + j]), acc);
                    }
                    if (x + L <= g.ow()) acc.intoArray(out, o + y * g.ow() + x);
                    else {
                        acc.intoArray(row, 0);
                        System.arraycopy(row, 0, out, o + y * g.ow() + x, g.ow() - x);
                    }
                }
          }
        });
    }

    static void forward(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g) {
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
            forwardUnitStride(dIn, dOut, dOff, flipped, 0, null, 0, back);
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

    /**
     * Stride 1, 3x3 or smaller: one pass per image over the padded plane, nine vector
     * accumulators (one per tap) against each vector of dOut; dOut rows are read through a buffer
     * zero beyond OW, so the rounded-up columns add nothing.
     */
    private static void backwardWeightUnitStride(float[] dW, float[] dOut, int dOff, float[] in, int inOff, ConvGeom g) {
        int hw = g.h() * g.w(), ohw = g.ohw(), wp = paddedWidth(g), vw = vectorWidth(g), rs = g.r() * g.s();
        Parallel.forEach(g.k(), k -> {
            float[] d = rowBuffer(vw);
            java.util.Arrays.fill(d, 0, vw, 0f);
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0;
            int s = g.s(), dh = g.dh(), dw = g.dw();
            for (int n = 0; n < g.n(); n++) {
                float[] p = padded(in, inOff + (n * g.c() + source(g, k)) * hw, g, wp);
                int go = dOff + (n * g.k() + k) * ohw;
                for (int y = 0; y < g.oh(); y++) {
                    System.arraycopy(dOut, go + y * g.ow(), d, 0, g.ow());
                    for (int x = 0; x < vw; x += L) {
                        FloatVector dv = FloatVector.fromArray(F, d, x);
                        int r0 = y * wp + x, r1 = r0 + dh * wp, r2 = r1 + dh * wp;
                        // taps beyond R x S read inside the padded plane (rows/columns clamped) and are dropped below
                        a0 = FloatVector.fromArray(F, p, r0).fma(dv, a0);
                        if (s > 1) a1 = FloatVector.fromArray(F, p, r0 + dw).fma(dv, a1);
                        if (s > 2) a2 = FloatVector.fromArray(F, p, r0 + 2 * dw).fma(dv, a2);
                        if (g.r() > 1) {
                            a3 = FloatVector.fromArray(F, p, r1).fma(dv, a3);
                            if (s > 1) a4 = FloatVector.fromArray(F, p, r1 + dw).fma(dv, a4);
                            if (s > 2) a5 = FloatVector.fromArray(F, p, r1 + 2 * dw).fma(dv, a5);
                        }
                        if (g.r() > 2) {
                            a6 = FloatVector.fromArray(F, p, r2).fma(dv, a6);
                            if (s > 1) a7 = FloatVector.fromArray(F, p, r2 + dw).fma(dv, a7);
                            if (s > 2) a8 = FloatVector.fromArray(F, p, r2 + 2 * dw).fma(dv, a8);
                        }
                    }
                }
            }
            FloatVector[] taps = {a0, a1, a2, a3, a4, a5, a6, a7, a8};
            for (int i = 0; i < g.r(); i++)
                for (int j = 0; j < s; j++) dW[k * rs + i * s + j] = Simd.sumLanes(taps[i * 3 + j]);
        });
    }

    /** dW, overwritten: one task per output channel, images summed in order. */
    static void backwardWeight(float[] dW, float[] dOut, int dOff, float[] in, int inOff, ConvGeom g) {
        if (unitStride(g) && g.r() <= 3 && g.s() <= 3) {
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
