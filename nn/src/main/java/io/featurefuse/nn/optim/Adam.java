package io.featurefuse.nn.optim;

import io.featurefuse.engine.Tensor;
import java.util.List;
import java.util.Map;

/**
 * Adam and AdamW as torch.optim: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). Adam adds wd p to the gradient
 * (L2); AdamW instead shrinks p by (1 - lr wd) before the step (decoupled decay).
 */
public final class Adam extends Optimizer {
    private final double beta1, beta2, eps;
    private final boolean decoupled;

    public Adam(List<ParamGroup> groups, double beta1, double beta2, double eps, boolean decoupledWeightDecay) {
        super(groups);
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("Adam betas (" + beta1 + ", " + beta2 + ") must lie in [0, 1)");
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.decoupled = decoupledWeightDecay;
    }

    public static Adam adam(List<ParamGroup> groups) {
        return new Adam(groups, 0.9, 0.999, 1e-8, false);
    }

    public static Adam adamW(List<ParamGroup> groups) {
        return new Adam(groups, 0.9, 0.999, 1e-8, true);
    }

    @Override
    protected void update(ParamGroup group, Tensor p, Tensor grad, Map<String, Tensor> slots) {
        Tensor g = group.weightDecay != 0 && !decoupled ? grad.add(p.mul(group.weightDecay)) : grad;
        Tensor m = slots.computeIfAbsent("exp_avg", k -> Tensor.zeros(p.shape().toArray()).to(p.dtype()));
        Tensor v = slots.computeIfAbsent("exp_avg_sq", k -> Tensor.zeros(p.shape().toArray()).to(p.dtype()));
        m.scaleAndAdd(beta1, g, 1 - beta1);
        v.scaleAndAdd(beta2, g.mul(g), 1 - beta2);
        double bc1 = 1 - Math.pow(beta1, steps), bc2 = 1 - Math.pow(beta2, steps);
        Tensor denom = v.sqrt().div(Math.sqrt(bc2)).add(eps);
        // AdamW's decay (p times 1 - lr wd before the step) folded into the one in-place update
        p.scaleAndAdd(decoupled ? 1 - group.lr * group.weightDecay : 1, m.div(denom), -group.lr / bc1);
    }
}
