package io.featurefuse.nn.optim;

import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Tensor;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Updates parameters from their gradients, group by group; parameters without a gradient (frozen,
 * or unused this step) are skipped, as in PyTorch. Per-parameter state (momentum, moments) is
 * named for checkpoints by the parameter's name and a slot name.
 */
public abstract class Optimizer {
    protected final List<ParamGroup> groups;
    /** Per parameter: its state tensors by slot name. */
    protected final Map<Tensor, Map<String, Tensor>> state = new IdentityHashMap<>();
    protected long steps;

    protected Optimizer(List<ParamGroup> groups) {
        if (groups.isEmpty()) throw new IllegalArgumentException("an optimizer needs at least one parameter group");
        this.groups = List.copyOf(groups);
    }

    public List<ParamGroup> groups() { return groups; }

    public long steps() { return steps; }

    /** One update of every parameter that has a gradient. */
    public final void step() {
        steps++;
        try (var off = GradMode.off()) {
            for (ParamGroup g : groups)
                for (Tensor p : g.params)
                    if (p.grad() != null && p.requiresGrad()) update(g, p, p.grad(), state.computeIfAbsent(p, k -> new LinkedHashMap<>()));
        }
    }

    /** Updates p in place (p.scaleAndAdd, p.assign) from its gradient; slots holds this parameter's state. */
    protected abstract void update(ParamGroup group, Tensor p, Tensor grad, Map<String, Tensor> slots);

    public final void zeroGrad() {
        for (ParamGroup g : groups) for (Tensor p : g.params) p.zeroGrad();
    }

    /** Sets every group's rate to its base rate times factor (what a schedule does each step). */
    public final void scaleLr(double factor) {
        for (ParamGroup g : groups) g.lr = g.baseLr * factor;
    }

    /** The state tensors named "<parameter name>.<slot>", for a checkpoint. */
    public final Map<String, Tensor> stateDict(Map<String, Tensor> namedParams) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        namedParams.forEach((name, p) -> {
            Map<String, Tensor> s = state.get(p);
            if (s != null) s.forEach((slot, t) -> out.put(name + "." + slot, t));
        });
        return out;
    }

    /** Restores state written by {@link #stateDict} for the same parameters, and the step count. */
    public final void loadStateDict(Map<String, Tensor> saved, Map<String, Tensor> namedParams, long steps) {
        state.clear();
        namedParams.forEach((name, p) -> {
            for (var e : saved.entrySet()) {
                String k = e.getKey();
                if (k.startsWith(name + ".") && k.indexOf('.', name.length() + 1) < 0) {
                    if (!e.getValue().shape().equals(p.shape()))
                        throw new IllegalArgumentException("optimizer state '" + k + "' has shape " + e.getValue().shape() + " but the parameter has " + p.shape());
                    state.computeIfAbsent(p, x -> new LinkedHashMap<>()).put(k.substring(name.length() + 1), e.getValue().to(p.dtype()).copy());
                }
            }
        });
        this.steps = steps;
    }

    /**
     * Scales the gradients so that their joint L2 norm is at most maxNorm, as
     * torch.nn.utils.clip_grad_norm_; returns the norm before clipping.
     */
    public static double clipGradNorm(List<Tensor> params, double maxNorm) {
        double sq = 0;
        try (var off = GradMode.off()) {
            for (Tensor p : params) if (p.grad() != null) sq += p.grad().mul(p.grad()).sum().item();
            double norm = Math.sqrt(sq), coef = maxNorm / (norm + 1e-6);
            if (coef < 1) for (Tensor p : params) if (p.grad() != null) p.grad().scaleAndAdd(coef, p.grad(), 0);
            return norm;
        }
    }
}
