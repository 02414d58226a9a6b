package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.Fusion;
import java.util.List;

/**
 * Parameter-free element-wise fusion of two maps of one shape: add, subtract, absolute difference,
 * multiply, maximum, and a safe divide a / (|b| + 1e-3) (finite for finite inputs; the sign follows
 * a, the magnitude shrinks where |b| is large).
 */
public final class Elementwise extends Fusion {
    public enum Op { ADD, SUB, ABSDIFF, MUL, DIV, MAX }

    static final double DIV_EPS = 1e-3;
    private final Op op;

    public Elementwise(Op op) {
        super(Needs.SAME_SHAPE);
        this.op = op;
    }

    @Override
    public Tensor fuse(Tensor a, Tensor b) {
        checkSameShape(toString(), a, b);
        return switch (op) {
            case ADD -> a.add(b);
            case SUB -> a.sub(b);
            case ABSDIFF -> a.sub(b).abs();
            case MUL -> a.mul(b);
            case DIV -> a.div(b.abs().add(DIV_EPS));
            case MAX -> a.maximum(b);
        };
    }

    /** add, mul and max are associative: they fuse any number of maps, left to right. */
    @Override
    public boolean takesManyMaps() {
        return op == Op.ADD || op == Op.MUL || op == Op.MAX;
    }

    @Override
    public Tensor fuseAll(List<Tensor> maps) {
        if (!takesManyMaps() || maps.size() == 2) return super.fuseAll(maps);
        checkMany(toString(), maps, maps.size(), true);
        if (maps.size() < 2) throw new IllegalArgumentException(this + " needs at least two maps, not " + maps.size());
        Tensor y = maps.getFirst();
        for (Tensor m : maps.subList(1, maps.size())) y = fuse(y, m);
        return y;
    }

    @Override
    public String toString() {
        return op.name().toLowerCase();
    }
}
