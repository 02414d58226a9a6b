package io.featurefuse.nn;

import io.featurefuse.engine.DType;

/**
 * The dtype that modules built in this thread give their parameters and buffers: float32 by
 * default; {@code try (var p = Precision.float64()) { ... }} builds float64 modules, for gradient
 * checks against the reference kernels (as torch.set_default_dtype).
 */
public final class Precision implements AutoCloseable {
    private static final ThreadLocal<DType> CURRENT = ThreadLocal.withInitial(() -> DType.F32);
    private final DType previous;

    private Precision(DType d) {
        previous = CURRENT.get();
        CURRENT.set(d);
    }

    public static Precision float64() {
        return new Precision(DType.F64);
    }

    public static DType current() {
        return CURRENT.get();
    }

    @Override
    public void close() {
        CURRENT.set(previous);
    }
}
