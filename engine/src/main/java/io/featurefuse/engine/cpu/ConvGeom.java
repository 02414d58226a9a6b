package io.featurefuse.engine.cpu;

/**
 * The sizes of one conv2d call, validated once: input (n, c, h, w), weight (k, c / groups, r, s),
 * output (n, k, oh, ow), with stride (sh, sw), symmetric zero padding (ph, pw) and dilation
 * (dh, dw), as PyTorch defines them. Every kernel takes one of these.
 */
public record ConvGeom(int n, int c, int h, int w, int k, int r, int s, int oh, int ow,
                       int sh, int sw, int ph, int pw, int dh, int dw, int groups) {

    public ConvGeom {
        if (n < 1 || c < 1 || h < 1 || w < 1 || k < 1 || r < 1 || s < 1 || oh < 1 || ow < 1)
            throw new IllegalArgumentException("conv2d: sizes must be positive: " + this);
        if (c % groups != 0 || k % groups != 0) throw new IllegalArgumentException("conv2d: channels do not divide into groups: " + this);
    }

    /** Output size along one axis: floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1, or &lt; 1 when the kernel does not fit. */
    public static long outSize(int in, int kernel, int stride, int pad, int dilation) {
        long span = (long) dilation * (kernel - 1) + 1;
        long padded = in + 2L * pad;
        return padded < span ? 0 : (padded - span) / stride + 1;
    }

    public int cg() { return c / groups; }
    public int kg() { return k / groups; }
    /** Rows of one group's im2col matrix: cg * r * s. */
    public int crs() { return cg() * r * s; }
    /** Output positions per image. */
    public int ohw() { return oh * ow; }

    /**
     * First output column whose input column x * sw + dx lies in [0, w), for the kernel column
     * offset dx = j * dw - pw; at most ow (then no column does).
     */
    public int firstColumn(int dx) {
        return Math.min(ow, dx >= 0 ? 0 : (-dx + sw - 1) / sw);
    }

    /** One past the last output column whose input column x * sw + dx lies in [0, w); never below x0. */
    public int endColumn(int dx, int x0) {
        long end = Math.floorDiv((long) w - dx + sw - 1, sw);
        return (int) Math.min(ow, Math.max(x0, end));
    }

    /** Multiply-adds of the forward pass. */
    public long macs() {
        return (long) n * k * ohw() * crs();
    }
}
