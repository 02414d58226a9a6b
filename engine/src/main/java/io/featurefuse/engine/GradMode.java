package io.featurefuse.engine;

/**
 * Whether ops record the autograd graph on this thread. {@code try (var g = GradMode.off()) {...}}
 * runs a block without recording (evaluation, optimizer updates); the previous mode returns when
 * the block ends, so scopes nest.
 */
public final class GradMode implements AutoCloseable {
    private static final ThreadLocal<Boolean> ENABLED = ThreadLocal.withInitial(() -> true);
    private final boolean previous;

    private GradMode(boolean enabled) {
        previous = ENABLED.get();
        ENABLED.set(enabled);
    }

    /** Turns recording off until the returned scope is closed. */
    public static GradMode off() {
        return new GradMode(false);
    }

    /** Turns recording on until the returned scope is closed (e.g. inside an off() block). */
    public static GradMode on() {
        return new GradMode(true);
    }

    public static boolean isEnabled() {
        return ENABLED.get();
    }

    @Override
    public void close() {
        ENABLED.set(previous);
    }
}
