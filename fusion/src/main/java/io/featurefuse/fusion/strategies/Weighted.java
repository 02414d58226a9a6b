package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.Fusion;
import io.featurefuse.nn.layers.Activation;
import io.featurefuse.nn.layers.Conv2d;
import io.featurefuse.nn.layers.Sequential;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * Weighted averages w a + (1 - w) b of two maps of one shape, with learned weights:
 * <ul>
 *   <li>SCALAR: one w = sigmoid(t), t starting at 0 (the reference "weighted");</li>
 *   <li>CHANNEL: one sigmoid weight per channel;</li>
 *   <li>PIXEL: w per position, generated from both maps by conv3x3 (2C -> C/4) + ReLU + conv1x1 (-> 1) + sigmoid;</li>
 *   <li>SOFTMAX: the N-way form, softmax over one learned logit per stream;</li>
 *   <li>BIFPN: EfficientDet's fast normalised fusion, relu(w_i) / (1e-4 + sum relu(w)), weights starting at 1.</li>
 * </ul>
 */
public final class Weighted extends Fusion {
    public enum Kind { SCALAR, CHANNEL, PIXEL, SOFTMAX, BIFPN }

    private final Kind kind;
    private final Tensor t;
    private final Sequential generator;

    public Weighted(Kind kind, int channels, RandomGenerator rng) {
        this(kind, channels, 2, rng);
    }

    /** SOFTMAX and BIFPN weigh any number of maps (one weight each); the other kinds take two. */
    public Weighted(Kind kind, int channels, int maps, RandomGenerator rng) {
        super(Needs.SAME_SHAPE);
        this.kind = kind;
        if (maps != 2 && kind != Kind.SOFTMAX && kind != Kind.BIFPN)
            throw new IllegalArgumentException(this + " weighs two maps (w and 1 - w), not " + maps);
        if (maps < 2) throw new IllegalArgumentException(this + " needs at least two maps, not " + maps);
        switch (kind) {
            case SCALAR -> { t = parameter("t", Tensor.zeros(1)); generator = null; }
            case CHANNEL -> { t = parameter("t", Tensor.zeros(1, channels, 1, 1)); generator = null; }
            case SOFTMAX -> { t = parameter("t", Tensor.zeros(maps)); generator = null; }
            case BIFPN -> { t = parameter("t", Tensor.ones(maps)); generator = null; }
            default -> {
                t = null;
                int hidden = Math.max(1, channels / 4);
                generator = child("gen", new Sequential(new Conv2d(2 * channels, hidden, 3, 1, 1, true, rng), Activation.relu(),
                        new Conv2d(hidden, 1, 1, 1, 0, true, rng)));
            }
        }
    }

    @Override
    public Tensor fuse(Tensor a, Tensor b) {
        checkSameShape(toString(), a, b);
        return switch (kind) {
            case SCALAR, CHANNEL -> {
                Tensor w = t.sigmoid();
                yield a.mul(w).add(b.mul(w.rsub(1)));
            }
            case PIXEL -> {
                Tensor w = generator.call(Tensor.concat(List.of(a, b), 1)).sigmoid();
                yield a.mul(w).add(b.mul(w.rsub(1)));
            }
            case SOFTMAX, BIFPN -> fuseAll(List.of(a, b));
        };
    }

    @Override
    public boolean takesManyMaps() {
        return kind == Kind.SOFTMAX || kind == Kind.BIFPN;
    }

    /** SOFTMAX and BIFPN: sum over i of w_i m_i, one weight per map. */
    @Override
    public Tensor fuseAll(List<Tensor> maps) {
        if (!takesManyMaps()) return super.fuseAll(maps);
        checkMany(toString(), maps, t.numel(), true);
        Tensor w = normalisedWeights();
        Tensor y = maps.getFirst().mul(w.narrow(0, 0, 1));
        for (int i = 1; i < maps.size(); i++) y = y.add(maps.get(i).mul(w.narrow(0, i, 1)));
        return y;
    }

    private Tensor normalisedWeights() {
        if (kind == Kind.SOFTMAX) return t.softmax(0);
        Tensor r = t.relu();
        return r.div(r.sum().add(1e-4));
    }

    /** "A, B" for two maps, "A, B, C" for three, ... */
    private String streams() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < t.numel(); i++) sb.append(i == 0 ? "" : ", ").append(i < 26 ? String.valueOf((char) ('A' + i)) : "#" + (i + 1));
        return sb.toString();
    }

    @Override
    public Map<String, double[]> learnedWeights() {
        return switch (kind) {
            case SCALAR, CHANNEL -> Map.of("w (weight of A)", t.sigmoid().toArray());
            case SOFTMAX -> Map.of("softmax weights (" + streams() + ")", normalisedWeights().toArray());
            case BIFPN -> Map.of("normalised weights (" + streams() + ")", normalisedWeights().toArray());
            case PIXEL -> Map.of();
        };
    }

    @Override
    public String toString() {
        return switch (kind) {
            case SCALAR -> "weighted";
            case CHANNEL -> "weighted-channel";
            case PIXEL -> "weighted-pixel";
            case SOFTMAX -> "softmax";
            case BIFPN -> "bifpn";
        };
    }
}
