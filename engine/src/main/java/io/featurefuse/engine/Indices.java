package io.featurefuse.engine;

import java.util.Arrays;

/** Integer positions, such as argmax's result, in row-major order with their shape. */
public record Indices(Shape shape, int[] values) {
    public Indices {
        if (values.length != shape.numel())
            throw new IllegalArgumentException("indices: " + values.length + " values for shape " + shape);
    }

    /** The index at a flat row-major position. */
    public int get(int flat) {
        return values[flat];
    }

    @Override
    public String toString() {
        return "indices(" + Arrays.toString(values) + ", shape=" + shape + ")";
    }
}
