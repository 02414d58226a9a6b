package io.featurefuse.engine;

/** Resize modes of {@link Tensor#interpolate}, as torch.nn.functional.interpolate's nearest, bilinear and area. */
public enum InterpolationMode {
    NEAREST, BILINEAR, AREA
}
