package io.featurefuse.engine;

/** Element types. float32 is the compute type; float64 runs the reference kernels and gradient checks. */
public enum DType {
    F32("float32"), F64("float64");

    private final String label;

    DType(String label) {
        this.label = label;
    }

    @Override
    public String toString() {
        return label;
    }
}
