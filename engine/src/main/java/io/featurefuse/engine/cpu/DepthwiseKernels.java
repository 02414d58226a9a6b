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

    static void forward(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g) {
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

    /** dW, overwritten: one task per output channel, images summed in order. */
    static void backwardWeight(float[] dW, float[] dOut, int dOff, float[] in, int inOff, ConvGeom g) {
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
