package io.featurefuse.engine.cpu;

/**
 * Float64 reference convolution: direct loops straight from the definition, the oracle for the
 * fast kernels and the gradient checks.
 * out[n][k][y][x] = b[k] + sum_{c in group(k), i, j} in[n][c][y sh - ph + i dh][x sw - pw + j dw] * w[k][c'][i][j]
 */
public final class Conv2dReference {
    private Conv2dReference() {}

    /** One multiply-add of the convolution: flat indices into the output, the input and the weight. */
    @FunctionalInterface
    private interface Tap {
        void visit(int out, int in, int weight);
    }

    /**
     * Every (output, input, weight) index triple of the definition, in the order n, k, y, x, c,
     * i, j, skipping taps that fall in the zero padding. The three kernels below differ only in
     * which of the three arrays they accumulate into.
     */
    private static void forEachTap(ConvGeom g, Tap tap) {
        int cg = g.cg(), kg = g.kg();
        for (int n = 0; n < g.n(); n++)
            for (int k = 0; k < g.k(); k++) {
                int c0 = (k / kg) * cg;
                for (int y = 0; y < g.oh(); y++)
                    for (int x = 0; x < g.ow(); x++) {
                        int o = ((n * g.k() + k) * g.oh() + y) * g.ow() + x;
                        for (int c = 0; c < cg; c++)
                            for (int i = 0; i < g.r(); i++) {
                                int iy = y * g.sh() - g.ph() + i * g.dh();
                                if (iy < 0 || iy >= g.h()) continue;
                                for (int j = 0; j < g.s(); j++) {
                                    int ix = x * g.sw() - g.pw() + j * g.dw();
                                    if (ix < 0 || ix >= g.w()) continue;
                                    tap.visit(o, ((n * g.c() + c0 + c) * g.h() + iy) * g.w() + ix, ((k * cg + c) * g.r() + i) * g.s() + j);
                                }
                            }
                    }
            }
    }

    // in: (N,C,H,W), w: (K,C/g,R,S), bias: (K) or null; out: (N,K,OH,OW), overwritten
    public static void forward(double[] out, double[] in, int inOff, double[] w, int wOff, double[] bias, int bOff, ConvGeom g) {
        int ohw = g.ohw();
        for (int t = 0; t < g.n() * g.k(); t++)
            java.util.Arrays.fill(out, t * ohw, (t + 1) * ohw, bias == null ? 0 : bias[bOff + t % g.k()]);
        forEachTap(g, (o, i, k) -> out[o] += in[inOff + i] * w[wOff + k]);
    }

    /** dIn (overwritten) from dOut: the adjoint of forward with respect to the input. */
    public static void backwardData(double[] dIn, double[] dOut, int dOff, double[] w, int wOff, ConvGeom g) {
        java.util.Arrays.fill(dIn, 0);
        forEachTap(g, (o, i, k) -> dIn[i] += dOut[dOff + o] * w[wOff + k]);
    }

    /** dW (overwritten) from dOut and the input: the adjoint with respect to the weight. */
    public static void backwardWeight(double[] dW, double[] dOut, int dOff, double[] in, int inOff, ConvGeom g) {
        java.util.Arrays.fill(dW, 0);
        forEachTap(g, (o, i, k) -> dW[k] += dOut[dOff + o] * in[inOff + i]);
    }
}
