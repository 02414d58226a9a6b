package io.featurefuse.engine.cpu;

/**
 * Plain float64 reference kernels: simple loops, obviously correct, the oracle that the fast
 * float32 kernels and the gradient checks trust. Signatures mirror {@link SimdKernels},
 * {@link Reductions} and {@link Gemm}.
 */
public final class ScalarKernels {
    private ScalarKernels() {}

    public static void binary(BinaryOp op, double[] a, int ao, int as, double[] b, int bo, int bs,
                              double[] out, int oo, int n) {
        for (int i = 0; i < n; i++) out[oo + i] = op.apply(a[ao + i * as], b[bo + i * bs]);
    }

    /** y[yo + i*ys] = a y[yo + i*ys] + b x[xo + i*xs] for i in [0, n). */
    public static void scaleAndAdd(double a, double[] y, int yo, int ys, double b, double[] x, int xo, int xs, int n) {
        for (int i = 0; i < n; i++) y[yo + i * ys] = a * y[yo + i * ys] + b * x[xo + i * xs];
    }

    public static void unary(UnaryOp op, double[] x, int xo, int xs, double[] out, int oo, int os, int n,
                             double p, double q) {
        for (int i = 0; i < n; i++) out[oo + i * os] = op.apply(x[xo + i * xs], p, q);
    }

    /**
     * Sum, max or min of a contiguous tensor over the dims flagged in {@code reduce}; out holds
     * the kept dims in order and must be pre-filled (0 for sum, -inf / +inf for max / min).
     */
    public static void reduce(Reductions.Kind kind, double[] in, int inOff, int[] dims, boolean[] reduce, double[] out) {
        int rank = dims.length;
        int[] outStride = new int[rank];
        int s = 1;
        for (int d = rank - 1; d >= 0; d--) {
            outStride[d] = reduce[d] ? 0 : s;
            if (!reduce[d]) s *= dims[d];
        }
        int[] idx = new int[rank];
        long total = 1;
        for (int d : dims) total *= d;
        int o = 0;
        for (long i = 0; i < total; i++) {
            double v = in[inOff + (int) i];
            out[o] = switch (kind) {
                case SUM -> out[o] + v;
                case MAX -> Double.isNaN(v) || Double.isNaN(out[o]) ? Double.NaN : Math.max(out[o], v);
                case MIN -> Double.isNaN(v) || Double.isNaN(out[o]) ? Double.NaN : Math.min(out[o], v);
            };
            for (int d = rank - 1; d >= 0; d--) {
                idx[d]++;
                o += outStride[d];
                if (idx[d] < dims[d]) break;
                o -= outStride[d] * dims[d];
                idx[d] = 0;
            }
        }
    }

    /** C = op(A) op(B) for each batch, the same arguments as {@link Gemm#sgemm}. */
    public static void dgemm(int batch, int m, int n, int k,
                             double[] a, int aOff, int aBatch, boolean transA, int lda,
                             double[] b, int bOff, int bBatch, boolean transB, int ldb,
                             double[] c, int cOff, int cBatch, int ldc) {
        for (int t = 0; t < batch; t++) {
            int ab = aOff + t * aBatch, bb = bOff + t * bBatch, cb = cOff + t * cBatch;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++) {
                        double av = transA ? a[ab + p * lda + i] : a[ab + i * lda + p];
                        double bv = transB ? b[bb + j * ldb + p] : b[bb + p * ldb + j];
                        acc += av * bv;
                    }
                    c[cb + i * ldc + j] = acc;
                }
            }
        }
    }
}
