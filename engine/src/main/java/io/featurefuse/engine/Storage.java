package io.featurefuse.engine;

/**
 * The array behind a tensor and all of its views. Kept as one object so that handing the array
 * back to the {@link BufferPool} can be seen by every view: a recycled storage refuses to be
 * read, with a sentence saying why, instead of showing another tensor's numbers.
 */
final class Storage {
    private float[] f;
    private double[] d;

    Storage(float[] f, double[] d) {
        this.f = f;
        this.d = d;
    }

    float[] f(Tensor reader) {
        if (f == null && d == null) throw recycled(reader);
        return f;
    }

    double[] d(Tensor reader) {
        if (f == null && d == null) throw recycled(reader);
        return d;
    }

    boolean isRecycled() {
        return f == null && d == null;
    }

    /** Hands the array to the pool; every tensor on this storage becomes unreadable. */
    void recycle() {
        if (isRecycled()) return;
        if (f != null) BufferPool.give(f);
        if (d != null) BufferPool.give(d);
        f = null;
        d = null;
    }

    private static IllegalStateException recycled(Tensor t) {
        String what = t.gradFn == null ? "this tensor" : "this output of '" + t.gradFn.opName() + "'";
        return new IllegalStateException("the buffer of " + what + " " + t.shape() + " was handed back for reuse (by"
                + " backwardAndRecycle(), or by a layer chain that was done with it); read it before that, or copy() it first");
    }
}
