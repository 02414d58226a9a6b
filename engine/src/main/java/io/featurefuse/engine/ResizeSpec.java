package io.featurefuse.engine;

/**
 * A size to resize maps to, and how (Tensor.interpolate's arguments): the one argument of the fused ops that read
 * maps of several sizes as if each had been resized to this one first (Fused.conv2dOfResizedConcat).
 */
public record ResizeSpec(int h, int w, InterpolationMode mode, boolean alignCorners) {
    public ResizeSpec {
        if (h < 1 || w < 1) throw new IllegalArgumentException("resize: size " + h + "x" + w + " must be at least 1x1");
        if (mode == null) throw new IllegalArgumentException("resize: needs a mode (nearest, bilinear or area)");
        if (alignCorners && mode != InterpolationMode.BILINEAR)
            throw new IllegalArgumentException("resize: alignCorners applies to bilinear only, not " + mode.name().toLowerCase());
    }

    /** True when t ([N, C, H, W]) already has this size. */
    boolean fits(Tensor t) {
        return t.shape.dim(2) == h && t.shape.dim(3) == w;
    }
}
