package io.featurefuse.fusion;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;

/**
 * A way to combine two feature maps [N, Ca, Ha, Wa] and [N, Cb, Hb, Wb] into one. A strategy
 * states what it needs of its inputs (same channels, same size), which the aligner provides, and
 * how many channels it puts out. Its layers are ordinary modules; it contains no backward code.
 */
public abstract class Fusion extends Module {
    /** What the two inputs must share before {@link #fuse}. */
    public enum Needs { NOTHING, SAME_SIZE, SAME_SHAPE }

    private final Needs needs;

    protected Fusion(Needs needs) {
        this.needs = needs;
    }

    public final Needs needs() {
        return needs;
    }

    /** Output channels for inputs of ca and cb channels (after alignment): A's, unless the strategy says otherwise. */
    public int outChannels(int ca, int cb) {
        return ca;
    }

    /** The fused map. */
    public abstract Tensor fuse(Tensor a, Tensor b);

    /**
     * Whether this strategy generalises to any number of maps (element-wise add, multiply and
     * maximum, concat, the softmax and BiFPN weightings, SK attention); the others take two.
     */
    public boolean takesManyMaps() {
        return false;
    }

    /** Fuses maps.size() maps, aligned as {@link #needs()} says; strategies that do not generalise take exactly two. */
    public Tensor fuseAll(java.util.List<Tensor> maps) {
        if (maps.size() != 2)
            throw new IllegalArgumentException(this + " fuses two maps, not " + maps.size() + "; the strategies that take any number are "
                    + String.join(", ", Strategies.manyMapNames()));
        return fuse(maps.get(0), maps.get(1));
    }

    protected static void checkMany(String who, java.util.List<Tensor> maps, int expected, boolean sameShape) {
        if (maps.size() != expected)
            throw new IllegalArgumentException(who + " was built for " + expected + " maps, not " + maps.size());
        for (Tensor m : maps) {
            boolean ok = sameShape ? m.shape().equals(maps.getFirst().shape())
                    : m.rank() == 4 && m.size(0) == maps.getFirst().size(0) && m.size(2) == maps.getFirst().size(2) && m.size(3) == maps.getFirst().size(3);
            if (!ok) throw new IllegalArgumentException(who + " needs maps of one " + (sameShape ? "shape" : "batch and size") + ", not "
                    + maps.stream().map(t -> t.shape().toString()).collect(java.util.stream.Collectors.joining(" and ")));
        }
    }

    /** A fusion takes two maps: use {@link #fuse}. */
    @Override
    public final Tensor forward(Tensor x) {
        throw new IllegalStateException(this + " fuses two feature maps: call fuse(a, b)");
    }

    /** Learned mixing weights or attention statistics worth reporting (name -> values); empty if none. */
    public java.util.Map<String, double[]> learnedWeights() {
        return java.util.Map.of();
    }

    protected static void checkSameShape(String who, Tensor a, Tensor b) {
        if (!a.shape().equals(b.shape()))
            throw new IllegalArgumentException(who + " needs two maps of one shape, not " + a.shape() + " and " + b.shape());
    }
}
