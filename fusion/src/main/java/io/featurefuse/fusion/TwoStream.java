package io.featurefuse.fusion;

import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.ResizeSpec;
import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.strategies.Concat;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.Summary;
import io.featurefuse.nn.layers.Identity;
import io.featurefuse.nn.layers.Linear;
import io.featurefuse.nn.models.Backbone;
import io.featurefuse.nn.models.FeatureTap;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * Two backbones read at a named tap each, aligned, fused, then ReLU (concat has its own),
 * global average pooling and a linear head: the reference two-stream model for any pair of
 * backbones and any strategy. Frozen backbones get no gradient and stay in evaluation mode
 * (their BN statistics are kept), so only alignment, fusion and head learn.
 */
public final class TwoStream extends Module {
    private final Backbone a, b;
    private final String tapA, tapB;
    private final Module alignA, alignB;
    private final Fusion fusion;
    private final Linear fc;
    private final Aligner.Plan plan;
    private final boolean frozen;

    public TwoStream(Backbone a, String tapA, Backbone b, String tapB, String strategy, String policy, Aligner.Up up,
                     Aligner.Down down, int channels, int classes, boolean freezeBackbones, int inputH, int inputW, RandomGenerator rng) {
        this.a = child("a", a);
        this.b = child("b", b);
        this.tapA = a.tap(tapA).name();
        this.tapB = b.tap(tapB).name();
        MapShape sa = shapeAt(a.tap(tapA), inputH, inputW), sb = shapeAt(b.tap(tapB), inputH, inputW);
        plan = Aligner.plan(sa, sb, Strategies.needs(strategy), policy, up, down, channels, rng);
        alignA = child("align_a", plan.alignA());
        alignB = child("align_b", plan.alignB());
        fusion = child("fusion", Strategies.create(strategy, plan.a().c(), plan.b().c(), channels > 0 ? channels : Math.max(sa.c(), sb.c()), rng));
        fc = child("fc", new Linear(fusion.outChannels(plan.a().c(), plan.b().c()), classes, true, rng));
        frozen = freezeBackbones;
        if (frozen) {
            a.freeze(true);
            b.freeze(true);
        }
    }

    /** A tap's map size for an input of inputH x inputW (stride divides with PyTorch's rounding for same-padded nets). */
    static MapShape shapeAt(FeatureTap t, int inputH, int inputW) {
        return new MapShape(t.channels(), Math.max(1, inputH / t.stride()), Math.max(1, inputW / t.stride()));
    }

    public Aligner.Plan plan() { return plan; }

    public Fusion fusion() { return fusion; }

    public Backbone a() { return a; }

    public Backbone b() { return b; }

    @Override
    public Tensor forward(Tensor x) {
        if (frozen && a.isTraining()) {
            a.eval();
            b.eval();
        }
        Tensor ta = a.features(x, List.of(tapA)).get(tapA), tb = b.features(x, List.of(tapB)).get(tapB);
        ResizeSpec to = fusion instanceof Concat ? foldedResize() : null;
        if (to != null) {
            Tensor pooled = ((Concat) fusion).fuseAllPooled(List.of(ta, tb), to);
            if (!GradMode.isEnabled()) recycleMaps(List.of(x, pooled), List.of(ta, tb));
            return fc.call(pooled.flatten(1, -1));
        }
        Tensor fa = alignA.call(ta), fb = alignB.call(tb);
        Tensor pooled;
        if (fusion instanceof Concat concat) {
            pooled = concat.fuseAllPooled(List.of(fa, fb)); // its own ReLU, the pool inside its BN's pass
            if (!GradMode.isEnabled()) recycleMaps(List.of(x, pooled), List.of(ta, fa, tb, fb));
        } else {
            Tensor fused = fusion.fuse(fa, fb), y = fused.relu();
            pooled = y.adaptiveAvgPool2d(1, 1);
            if (!GradMode.isEnabled()) recycleMaps(List.of(x, pooled), List.of(ta, fa, tb, fb, fused, y));
        }
        return fc.call(pooled.flatten(1, -1));
    }

    /**
     * Where both aligners only resize (or pass a map as it is) to one size by one rule, that resize (Concat then reads the
     * taps as they are and runs its 1x1 conv at a smaller map's own size, see Concat.fuseAllPooled); null otherwise, and
     * while a summary records layer shapes (it should see the aligners).
     */
    ResizeSpec foldedResize() {
        if (Summary.isObserving()) return null;
        ResizeSpec ra = alignA instanceof Resize r ? r.spec() : null, rb = alignB instanceof Resize r ? r.spec() : null;
        if (ra == null && !(alignA instanceof Identity) || rb == null && !(alignB instanceof Identity)) return null;
        if (ra != null && rb != null && !ra.equals(rb)) return null;
        return ra != null ? ra : rb;
    }

    /**
     * Without recording, the feature maps this forward made go back to the engine's buffer pool
     * (each once; none that shares a buffer with one of keep: the input, the pooled features
     * that go on). They were ~60 MB of fresh arrays per batch-256 inference, G1 humongous
     * allocations: with the launcher's 600 MB heap a collection every ~0.2 s, and every array
     * new memory to zero.
     */
    private static void recycleMaps(List<Tensor> keep, List<Tensor> maps) {
        for (int i = 0; i < maps.size(); i++) {
            Tensor t = maps.get(i);
            boolean seen = keep.stream().anyMatch(t::sharesStorage);
            for (int j = 0; j < i && !seen; j++) seen = t.sharesStorage(maps.get(j));
            if (!seen) t.recycle();
        }
    }

    @Override
    public String toString() {
        return "TwoStream(" + fusion + ")";
    }
}
