package io.featurefuse.engine;

/**
 * Stride, symmetric zero padding, dilation and groups of a 2-D convolution, as PyTorch's
 * {@code conv2d(..., stride, padding, dilation, groups)}. Asymmetric padding: pad the input
 * first with {@link Tensor#pad}.
 */
public record ConvOptions(int strideH, int strideW, int padH, int padW, int dilationH, int dilationW, int groups) {
    public ConvOptions {
        if (strideH < 1 || strideW < 1) throw new IllegalArgumentException("conv2d: stride " + strideH + "x" + strideW + " must be at least 1");
        if (padH < 0 || padW < 0) throw new IllegalArgumentException("conv2d: padding " + padH + "x" + padW + " must not be negative");
        if (dilationH < 1 || dilationW < 1)
            throw new IllegalArgumentException("conv2d: dilation " + dilationH + "x" + dilationW + " must be at least 1");
        if (groups < 1) throw new IllegalArgumentException("conv2d: groups " + groups + " must be at least 1");
    }

    /** Stride 1, no padding, no dilation, one group. */
    public static ConvOptions defaults() {
        return new ConvOptions(1, 1, 0, 0, 1, 1, 1);
    }

    /** The same stride and padding in both directions. */
    public static ConvOptions of(int stride, int padding) {
        return new ConvOptions(stride, stride, padding, padding, 1, 1, 1);
    }

    public ConvOptions withStride(int h, int w) {
        return new ConvOptions(h, w, padH, padW, dilationH, dilationW, groups);
    }

    public ConvOptions withPadding(int h, int w) {
        return new ConvOptions(strideH, strideW, h, w, dilationH, dilationW, groups);
    }

    public ConvOptions withDilation(int h, int w) {
        return new ConvOptions(strideH, strideW, padH, padW, h, w, groups);
    }

    public ConvOptions withGroups(int g) {
        return new ConvOptions(strideH, strideW, padH, padW, dilationH, dilationW, g);
    }
}
