package io.featurefuse.nn.models;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.layers.OpFusion;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A feature extractor built as a sequence of layers named 0, 1, 2, ... (the keys of
 * torch.nn.Sequential), with named taps after chosen layers, like timm's features_only: any
 * stage's output can be read by name, so any layer of any model can be fused.
 */
public class Backbone extends Module {
    private final List<Module> layers = new ArrayList<>();
    private final Map<String, Integer> tapIndex = new LinkedHashMap<>();
    private final Map<String, FeatureTap> taps = new LinkedHashMap<>();
    private final int inChannels;

    protected Backbone(int inChannels) {
        this.inChannels = inChannels;
    }

    /** Appends a layer; returns it. */
    protected final <M extends Module> M add(M layer) {
        layers.add(child(Integer.toString(layers.size()), layer));
        return layer;
    }

    /** Names the output of the layer added last. */
    protected final void tap(String name, int channels, int stride) {
        if (layers.isEmpty()) throw new IllegalStateException("tap '" + name + "' before any layer");
        tapIndex.put(name, layers.size() - 1);
        taps.put(name, new FeatureTap(name, channels, stride));
    }

    public final int inChannels() { return inChannels; }

    /** The taps in network order; the last is the backbone's output. */
    public final List<FeatureTap> taps() {
        return List.copyOf(taps.values());
    }

    public final FeatureTap tap(String name) {
        FeatureTap t = taps.get(name);
        if (t == null) throw new IllegalArgumentException("backbone has no feature tap '" + name + "'; it has " + String.join(", ", taps.keySet()));
        return t;
    }

    /** The last tap: what forward returns. */
    public final FeatureTap output() {
        return taps().getLast();
    }

    @Override
    public Tensor forward(Tensor x) {
        checkInput(x);
        return OpFusion.sequence(layers, 0, layers.size() - 1, x);
    }

    /** The outputs of the named taps, computing only as far as the deepest one. */
    public final Map<String, Tensor> features(Tensor x, List<String> names) {
        checkInput(x);
        int last = -1;
        for (String n : names) last = Math.max(last, tapIndex.get(tap(n).name()));
        Map<Integer, List<String>> wanted = new LinkedHashMap<>();
        for (String n : names) wanted.computeIfAbsent(tapIndex.get(n), k -> new ArrayList<>()).add(n);
        Map<String, Tensor> out = new LinkedHashMap<>();
        OpFusion.sequence(layers, 0, last, x, wanted::containsKey, (y, j) -> {
            for (String n : wanted.get(j)) out.put(n, y);
        });
        return out;
    }

    private void checkInput(Tensor x) {
        if (x.rank() != 4 || x.size(1) != inChannels)
            throw new IllegalArgumentException("backbone expects input [N, " + inChannels + ", H, W], not " + x.shape());
    }
}
