package io.featurefuse.engine.cpu;

/**
 * Bilinear and nearest resizing of planes (N*C of them) through per-axis tables: each output
 * row (column) reads source rows i0 and i1 with weights 1 - t and t (nearest: t = 0). The tables
 * follow PyTorch's source-index rules, so both modes and both align_corners rules are just
 * different tables. float32 kernels run parallel over planes; float64 ones are the reference.
 */
public final class ResizeKernels {
    private ResizeKernels() {}

    /** Source indices and weights for one axis. */
    public record Axis(int in, int[] i0, int[] i1, double[] t) {
        public int out() { return i0.length; }
    }

    /**
     * The bilinear table of PyTorch's upsample_bilinear2d (identity where out == in). scale = (in - 1) / (out - 1) with
     * align_corners, else 1 / scaleFactor when one was given, else in / out; the source index is
     * scale * dst with align_corners, else max(scale (dst + 0.5) - 0.5, 0). PyTorch computes this
     * in the tensor's precision, so float32 tensors get a float32 table.
     */
    public static Axis bilinear(int in, int out, boolean alignCorners, double scaleFactor, boolean float32) {
        int[] i0 = new int[out], i1 = new int[out];
        double[] t = new double[out];
        if (out == in) {
            // PyTorch (1.13, checked) leaves an axis whose size does not change as it is, even when a
            // scale factor such as 1.25 maps 2 to 2 and would otherwise shift the samples.
            for (int o = 0; o < out; o++) i0[o] = i1[o] = o;
            return new Axis(in, i0, i1, t);
        }
        if (float32) {
            float scale = alignCorners ? (out > 1 ? (float) (in - 1) / (out - 1) : 0f)
                    : (scaleFactor > 0 ? (float) (1.0 / scaleFactor) : (float) in / out);
            for (int o = 0; o < out; o++) {
                float src = alignCorners ? scale * o : Math.max(scale * (o + 0.5f) - 0.5f, 0f);
                int a = (int) src;
                i0[o] = a;
                i1[o] = a + (a < in - 1 ? 1 : 0);
                t[o] = src - a;
            }
        } else {
            double scale = alignCorners ? (out > 1 ? (double) (in - 1) / (out - 1) : 0)
                    : (scaleFactor > 0 ? 1.0 / scaleFactor : (double) in / out);
            for (int o = 0; o < out; o++) {
                double src = alignCorners ? scale * o : Math.max(scale * (o + 0.5) - 0.5, 0);
                int a = (int) src;
                i0[o] = a;
                i1[o] = a + (a < in - 1 ? 1 : 0);
                t[o] = src - a;
            }
        }
        return new Axis(in, i0, i1, t);
    }

    /** PyTorch's 'nearest': src = min(floor(dst * scale), in - 1), scale in float32 (as ATen), with exact shortcuts for out == in and out == 2 in. */
    public static Axis nearest(int in, int out, double scaleFactor) {
        int[] i0 = new int[out];
        float scale = scaleFactor > 0 ? (float) (1.0 / scaleFactor) : (float) in / out;
        for (int o = 0; o < out; o++) {
            if (out == in) i0[o] = o;
            else if (out == 2 * in) i0[o] = o >> 1;
            else i0[o] = Math.min((int) Math.floor(o * scale), in - 1);
        }
        return new Axis(in, i0, i0.clone(), new double[out]);
    }

    private static void planes(int count, java.util.function.IntConsumer plane) {
        if (count >= Parallel.threads()) Parallel.forEach(count, plane);
        else for (int p = 0; p < count; p++) plane.accept(p);
    }

    public static void forward(float[] out, float[] in, int inOff, int planes, Axis ay, Axis ax) {
        int ihw = ay.in() * ax.in(), ohw = ay.out() * ax.out(), iw = ax.in(), ow = ax.out();
        planes(planes, p -> {
            int base = inOff + p * ihw;
            for (int y = 0; y < ay.out(); y++) {
                float ty = (float) ay.t()[y], sy = 1 - ty;
                int r0 = base + ay.i0()[y] * iw, r1 = base + ay.i1()[y] * iw;
                for (int x = 0; x < ow; x++) {
                    float tx = (float) ax.t()[x], sx = 1 - tx;
                    int c0 = ax.i0()[x], c1 = ax.i1()[x];
                    out[p * ohw + y * ow + x] = sy * (sx * in[r0 + c0] + tx * in[r0 + c1]) + ty * (sx * in[r1 + c0] + tx * in[r1 + c1]);
                }
            }
        });
    }

    public static void forward(double[] out, double[] in, int inOff, int planes, Axis ay, Axis ax) {
        int ihw = ay.in() * ax.in(), ohw = ay.out() * ax.out(), iw = ax.in(), ow = ax.out();
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < ay.out(); y++) {
                double ty = ay.t()[y], sy = 1 - ty;
                int r0 = inOff + p * ihw + ay.i0()[y] * iw, r1 = inOff + p * ihw + ay.i1()[y] * iw;
                for (int x = 0; x < ow; x++) {
                    double tx = ax.t()[x], sx = 1 - tx;
                    int c0 = ax.i0()[x], c1 = ax.i1()[x];
                    out[p * ohw + y * ow + x] = sy * (sx * in[r0 + c0] + tx * in[r0 + c1]) + ty * (sx * in[r1 + c0] + tx * in[r1 + c1]);
                }
            }
    }

    /** dIn (zeroed here) gets every output gradient back along the same four weights. */
    public static void backward(float[] dIn, float[] dOut, int dOff, int planes, Axis ay, Axis ax) {
        int ihw = ay.in() * ax.in(), ohw = ay.out() * ax.out(), iw = ax.in(), ow = ax.out();
        planes(planes, p -> {
            java.util.Arrays.fill(dIn, p * ihw, (p + 1) * ihw, 0f);
            for (int y = 0; y < ay.out(); y++) {
                float ty = (float) ay.t()[y], sy = 1 - ty;
                int r0 = p * ihw + ay.i0()[y] * iw, r1 = p * ihw + ay.i1()[y] * iw;
                for (int x = 0; x < ow; x++) {
                    float g = dOut[dOff + p * ohw + y * ow + x];
                    float tx = (float) ax.t()[x], sx = 1 - tx;
                    int c0 = ax.i0()[x], c1 = ax.i1()[x];
                    dIn[r0 + c0] += sy * sx * g;
                    dIn[r0 + c1] += sy * tx * g;
                    dIn[r1 + c0] += ty * sx * g;
                    dIn[r1 + c1] += ty * tx * g;
                }
            }
        });
    }

    public static void backward(double[] dIn, double[] dOut, int dOff, int planes, Axis ay, Axis ax) {
        int ihw = ay.in() * ax.in(), ohw = ay.out() * ax.out(), iw = ax.in(), ow = ax.out();
        java.util.Arrays.fill(dIn, 0);
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < ay.out(); y++) {
                double ty = ay.t()[y], sy = 1 - ty;
                int r0 = p * ihw + ay.i0()[y] * iw, r1 = p * ihw + ay.i1()[y] * iw;
                for (int x = 0; x < ow; x++) {
                    double g = dOut[dOff + p * ohw + y * ow + x];
                    double tx = ax.t()[x], sx = 1 - tx;
                    int c0 = ax.i0()[x], c1 = ax.i1()[x];
                    dIn[r0 + c0] += sy * sx * g;
                    dIn[r0 + c1] += sy * tx * g;
                    dIn[r1 + c0] += ty * sx * g;
                    dIn[r1 + c1] += ty * tx * g;
                }
            }
    }
}
