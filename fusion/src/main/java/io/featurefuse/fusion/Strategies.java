package io.featurefuse.fusion;

import io.featurefuse.fusion.strategies.Aff;
import io.featurefuse.fusion.strategies.Cbam;
import io.featurefuse.fusion.strategies.Concat;
import io.featurefuse.fusion.strategies.CrossAttention;
import io.featurefuse.fusion.strategies.Elementwise;
import io.featurefuse.fusion.strategies.Film;
import io.featurefuse.fusion.strategies.Gated;
import io.featurefuse.fusion.strategies.SkAttention;
import io.featurefuse.fusion.strategies.Weighted;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/** Every fusion strategy by name, with what it needs of its inputs. */
public final class Strategies {
    private Strategies() {}

    @FunctionalInterface
    interface Factory {
        /** ca, cb: channels after alignment; out: the common width (concat's output). */
        Fusion create(int ca, int cb, int out, RandomGenerator rng);
    }

    record Entry(Fusion.Needs needs, Factory factory, String about) {}

    private static final Map<String, Entry> ALL = new LinkedHashMap<>();

    static {
        for (Elementwise.Op op : Elementwise.Op.values())
            ALL.put(op.name().toLowerCase(), new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new Elementwise(op), "element-wise " + op.name().toLowerCase()));
        ALL.put("concat", new Entry(Fusion.Needs.SAME_SIZE, (ca, cb, out, r) -> new Concat(ca, cb, out, r), "concat + 1x1 conv + BN + ReLU"));
        ALL.put("weighted", weighted(Weighted.Kind.SCALAR, "one learned scalar weight (sigmoid)"));
        ALL.put("weighted-channel", weighted(Weighted.Kind.CHANNEL, "a learned weight per channel"));
        ALL.put("weighted-pixel", weighted(Weighted.Kind.PIXEL, "weights per position from a small conv net"));
        ALL.put("softmax", weighted(Weighted.Kind.SOFTMAX, "softmax-normalised stream weights"));
        ALL.put("bifpn", weighted(Weighted.Kind.BIFPN, "BiFPN fast normalised fusion"));
        ALL.put("gated", new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new Gated(ca, r), "sigmoid gate from both maps"));
        ALL.put("film", new Entry(Fusion.Needs.NOTHING, (ca, cb, out, r) -> new Film(ca, cb, r), "B modulates A per channel (FiLM)"));
        ALL.put("attention", new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new SkAttention(ca, r), "SK channel attention over the streams"));
        ALL.put("cbam", new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new Cbam(ca, r), "CBAM channel + spatial attention"));
        ALL.put("aff", new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new Aff(ca, false, r), "attentional feature fusion (AFF)"));
        ALL.put("iaff", new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new Aff(ca, true, r), "iterative AFF"));
        ALL.put("cross-attention", new Entry(Fusion.Needs.NOTHING, (ca, cb, out, r) -> new CrossAttention(ca, cb, r), "A's positions attend to B's"));
    }

    private static Entry weighted(Weighted.Kind kind, String about) {
        return new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new Weighted(kind, ca, r), about);
    }

    /** The strategies `fuse compare` runs by default. */
    public static final List<String> CORE = List.of("add", "concat", "weighted", "attention");

    public static List<String> names() {
        return List.copyOf(ALL.keySet());
    }

    public static String about(String name) {
        return entry(name).about();
    }

    public static Fusion.Needs needs(String name) {
        return entry(name).needs();
    }

    public static Fusion create(String name, int ca, int cb, int out, RandomGenerator rng) {
        return entry(name).factory().create(ca, cb, out, rng);
    }

    private static Entry entry(String name) {
        Entry e = ALL.get(name);
        if (e == null) throw new IllegalArgumentException("unknown fusion strategy '" + name + "'; the strategies are " + String.join(", ", ALL.keySet()));
        return e;
    }
}
