package io.featurefuse.engine.cpu;

/**
 * Float64 reference convolution: direct loops straight from the definition, the oracle for the
 * fast kernels and the gradient checks.
 * out[n][k][y][x] = b[k] + sum_{c in group(k), i, j} in[n][c][y sh - ph + i dh][x sw - pw + j dw] * w[k][c'][i][j]
 */
public final class Conv2dReference {
    private Conv2dReference() {}

    // in: (N,C,H,W), w: (K,C/g,R,S), bias: (K) or null, out: (N,K,OH,OW)
    public static void forward(double[] out, double[] in, int inOff, double[] w, int wOff, double[] bias, int bOff, ConvGeom g) {
        int cg = g.cg(), kg = g.kg();
        for (int n = 0; n < g.n(); n++)
            for (int k = 0; k < g.k(); k++) {
                int c0 = (k / kg) * cg;
                for (int y = 0; y < g.oh(); y++)
                    for (int x = 0; x < g.ow(); x++) {
                        double acc = bias == null ? 0 : bias[bOff + k];
                        for (int c = 0; c < cg; c++)
                            for (int i = 0; i < g.r(); i++) {
                                int iy = y * g.sh() - g.ph() + i * g.dh();
                                if (iy < 0 || iy >= g.h()) continue;
                                for (int j = 0; j < g.s(); j++) {
                                    int ix = x * g.sw() - g.pw() + j * g.dw();
                                    if (ix < 0 || ix >= g.w()) continue;
                                    acc += in[inOff + ((n * g.c() + c0 + c) * g.h() + iy) * g.w() + ix]
                                            * w[wOff + ((k * cg + c) * g.r() + i) * g.s() + j];
                                }
                            }
                        out[((n * g.k() + k) * g.oh() + y) * g.ow() + x] = acc;
                    }
            }
    }

    /** dIn (overwritten) from dOut: the adjoint of forward with respect to the input. */
    public static void backwardData(double[] dIn, double[] dOut, int dOff, double[] w, int wOff, ConvGeom g) {
        java.util.Arrays.fill(dIn, 0);
        int cg = g.cg(), kg = g.kg();
        for (int n = 0; n < g.n(); n++)
            for (int k = 0; k < g.k(); k++) {
                int c0 = (k / kg) * cg;
                for (int y = 0; y < g.oh(); y++)
                    for (int x = 0; x < g.ow(); x++) {
                        double go = dOut[dOff + ((n * g.k() + k) * g.oh() + y) * g.ow() + x];
                        for (int c = 0; c < cg; c++)
                            for (int i = 0; i < g.r(); i++) {
                                int iy = y * g.sh() - g.ph() + i * g.dh();
                                if (iy < 0 || iy >= g.h()) continue;
                                for (int j = 0; j < g.s(); j++) {
                                    int ix = x * g.sw() - g.pw() + j * g.dw();
                                    if (ix < 0 || ix >= g.w()) continue;
                                    dIn[((n * g.c() + c0 + c) * g.h() + iy) * g.w() + ix] += go * w[wOff + ((k * cg + c) * g.r() + i) * g.s() + j];
                                }
                            }
                    }
            }
    }

    /** dW (overwritten) from dOut and the input: the adjoint with respect to the weight. */
    public static void backwardWeight(double[] dW, double[] dOut, int dOff, double[] in, int inOff, ConvGeom g) {
        java.util.Arrays.fill(dW, 0);
        int cg = g.cg(), kg = g.kg();
        for (int n = 0; n < g.n(); n++)
            for (int k = 0; k < g.k(); k++) {
                int c0 = (k / kg) * cg;
                for (int y = 0; y < g.oh(); y++)
                    for (int x = 0; x < g.ow(); x++) {
                        double go = dOut[dOff + ((n * g.k() + k) * g.oh() + y) * g.ow() + x];
                        for (int c = 0; c < cg; c++)
                            for (int i = 0; i < g.r(); i++) {
                                int iy = y * g.sh() - g.ph() + i * g.dh();
                                if (iy < 0 || iy >= g.h()) continue;
                                for (int j = 0; j < g.s(); j++) {
                                    int ix = x * g.sw() - g.pw() + j * g.dw();
                                    if (ix < 0 || ix >= g.w()) continue;
                                    dW[((k * cg + c) * g.r() + i) * g.s() + j] += go * in[inOff + ((n * g.c() + c0 + c) * g.h() + iy) * g.w() + ix];
                                }
                            }
                    }
            }
    }
}
