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

    /** For strategies that generalise: channels of every map (after alignment), the common width. */
    @FunctionalInterface
    interface ManyFactory {
        Fusion create(int[] channels, int out, RandomGenerator rng);
    }

    record Entry(Fusion.Needs needs, Factory factory, String about, ManyFactory many) {
        Entry(Fusion.Needs needs, Factory factory, String about) {
            this(needs, factory, about, null);
        }
    }

    private static final Map<String, Entry> ALL = new LinkedHashMap<>();

    static {
        for (Elementwise.Op op : Elementwise.Op.values()) {
            boolean many = new Elementwise(op).takesManyMaps();
            ALL.put(op.name().toLowerCase(), new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new Elementwise(op), "element-wise " + op.name().toLowerCase(),
                    many ? (cs, out, r) -> new Elementwise(op) : null));
        }
        ALL.put("concat", new Entry(Fusion.Needs.SAME_SIZE, (ca, cb, out, r) -> new Concat(ca, cb, out, r), "concat + 1x1 conv + BN + ReLU",
                (cs, out, r) -> new Concat(cs, out, r)));
        ALL.put("weighted", weighted(Weighted.Kind.SCALAR, "one learned scalar weight (sigmoid)"));
        ALL.put("weighted-channel", weighted(Weighted.Kind.CHANNEL, "a learned weight per channel"));
        ALL.put("weighted-pixel", weighted(Weighted.Kind.PIXEL, "weights per position from a small conv net"));
        ALL.put("softmax", new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new Weighted(Weighted.Kind.SOFTMAX, ca, r),
                "softmax-normalised stream weights", (cs, out, r) -> new Weighted(Weighted.Kind.SOFTMAX, cs[0], cs.length, r)));
        ALL.put("bifpn", new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new Weighted(Weighted.Kind.BIFPN, ca, r),
                "BiFPN fast normalised fusion", (cs, out, r) -> new Weighted(Weighted.Kind.BIFPN, cs[0], cs.length, r)));
        ALL.put("gated", new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new Gated(ca, r), "sigmoid gate from both maps"));
        ALL.put("film", new Entry(Fusion.Needs.NOTHING, (ca, cb, out, r) -> new Film(ca, cb, r), "B modulates A per channel (FiLM)"));
        ALL.put("attention", new Entry(Fusion.Needs.SAME_SHAPE, (ca, cb, out, r) -> new SkAttention(ca, r), "SK channel attention over the streams",
                (cs, out, r) -> new SkAttention(cs[0], cs.length, r)));
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

    /** The strategies that fuse any number of maps ({@link #create(String, int[], int, RandomGenerator)}). */
    public static List<String> manyMapNames() {
        return ALL.entrySet().stream().filter(e -> e.getValue().many() != null).map(Map.Entry::getKey).toList();
    }

    /**
     * A strategy for channels.length maps (two or more) with these channel counts after alignment;
     * SAME_SHAPE strategies need them equal.
     */
    public static Fusion create(String name, int[] channels, int out, RandomGenerator rng) {
        Entry e = entry(name);
        if (channels.length == 2) return e.factory().create(channels[0], channels[1], out, rng);
        if (channels.length < 2) throw new IllegalArgumentException(name + " fuses at least two maps, not " + channels.length);
        if (e.many() == null)
            throw new IllegalArgumentException(name + " fuses two maps, not " + channels.length + "; the strategies that take any number are "
                    + String.join(", ", manyMapNames()));
        if (e.needs() == Fusion.Needs.SAME_SHAPE && java.util.Arrays.stream(channels).anyMatch(c -> c != channels[0]))
            throw new IllegalArgumentException(name + " needs maps of one shape, not channels " + java.util.Arrays.toString(channels)
                    + "; project them to one width first (Aligner)");
        return e.many().create(channels, out, rng);
    }

    private static Entry entry(String name) {
        Entry e = ALL.get(name);
        if (e == null) throw new IllegalArgumentException("unknown fusion strategy '" + name + "'; the strategies are " + String.join(", ", ALL.keySet()));
        return e;
    }
}
