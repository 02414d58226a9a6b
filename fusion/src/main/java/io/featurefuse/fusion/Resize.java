package io.featurefuse.fusion;

import io.featurefuse.engine.InterpolationMode;
import io.featurefuse.engine.ResizeSpec;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;

/** Resizes a map to a fixed size by interpolation (nearest, bilinear with either corner rule, area). */
public final class Resize extends Module {
    private final int h, w;
    private final InterpolationMode mode;
    private final boolean alignCorners;

    public Resize(int h, int w, InterpolationMode mode, boolean alignCorners) {
        this.h = h;
        this.w = w;
        this.mode = mode;
        this.alignCorners = alignCorners;
    }

    /** What this module resizes to, and how. */
    public ResizeSpec spec() {
        return new ResizeSpec(h, w, mode, alignCorners);
    }

    @Override
    public Tensor forward(Tensor x) {
        return x.interpolate(h, w, mode, alignCorners);
    }

    @Override
    public String toString() {
        return "Resize(" + h + "x" + w + ", " + mode.name().toLowerCase() + (alignCorners ? ", align_corners" : "") + ")";
    }
}
