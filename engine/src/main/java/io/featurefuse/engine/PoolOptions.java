package io.featurefuse.engine;

/**
 * Window, stride and zero padding of max_pool2d / avg_pool2d, with PyTorch's ceil_mode and
 * count_include_pad (which only avg_pool2d reads). Padding may be at most half the window.
 */
public record PoolOptions(int kernelH, int kernelW, int strideH, int strideW, int padH, int padW,
                          boolean ceilMode, boolean countIncludePad) {
    public PoolOptions {
        if (kernelH < 1 || kernelW < 1) throw new IllegalArgumentException("pool2d: kernel " + kernelH + "x" + kernelW + " must be at least 1x1");
        if (strideH < 1 || strideW < 1) throw new IllegalArgumentException("pool2d: stride " + strideH + "x" + strideW + " must be at least 1");
        if (padH < 0 || padW < 0 || padH > kernelH / 2 || padW > kernelW / 2)
            throw new IllegalArgumentException("pool2d: padding " + padH + "x" + padW + " must lie between 0 and half the kernel "
                    + kernelH + "x" + kernelW);
    }

    /** A square window; stride = kernel and no padding, as PyTorch's defaults. */
    public static PoolOptions of(int kernel) {
        return of(kernel, kernel, 0);
    }

    public static PoolOptions of(int kernel, int stride, int padding) {
        return new PoolOptions(kernel, kernel, stride, stride, padding, padding, false, true);
    }

    public PoolOptions withCeilMode(boolean on) {
        return new PoolOptions(kernelH, kernelW, strideH, strideW, padH, padW, on, countIncludePad);
    }

    public PoolOptions withCountIncludePad(boolean on) {
        return new PoolOptions(kernelH, kernelW, strideH, strideW, padH, padW, ceilMode, on);
    }

    /** PyTorch's pooling output size: with ceil_mode the last window must still start inside the input or left padding. */
    static int outSize(int in, int kernel, int stride, int pad, boolean ceil) {
        long span = in + 2L * pad - kernel;
        long out = (ceil ? Math.floorDiv(span + stride - 1, stride) : Math.floorDiv(span, stride)) + 1;
        if (ceil && (out - 1) * stride >= in + pad) out--;
        return (int) Math.max(out, 0);
    }
}
