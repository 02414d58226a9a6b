package io.featurefuse.nn.layers;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import java.util.ArrayList;
import java.util.List;

/** Runs its children in order; they are named 0, 1, 2, ... as in torch.nn.Sequential. */
public final class Sequential extends Module {
    private final List<Module> layers = new ArrayList<>();

    public Sequential(Module... layers) {
        this(List.of(layers));
    }

    public Sequential(List<? extends Module> layers) {
        for (Module m : layers) this.layers.add(child(Integer.toString(this.layers.size()), m));
    }

    public int size() {
        return layers.size();
    }

    public Module get(int i) {
        return layers.get(i);
    }

    @Override
    public Tensor forward(Tensor x) {
        return OpFusion.sequence(layers, 0, layers.size() - 1, x);
    }
}
