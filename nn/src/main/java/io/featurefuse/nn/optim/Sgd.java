package io.featurefuse.nn.optim;

import io.featurefuse.engine.Tensor;
import java.util.List;
import java.util.Map;

/**
 * Stochastic gradient descent as torch.optim.SGD: g = grad + wd p; with momentum the buffer
 * starts as g and then b = m b + (1 - dampening) g; Nesterov steps along g + m b, else along b.
 */
public final class Sgd extends Optimizer {
    private final double momentum, dampening;
    private final boolean nesterov;

    public Sgd(List<ParamGroup> groups, double momentum, double dampening, boolean nesterov) {
        super(groups);
        if (!(momentum >= 0)) throw new IllegalArgumentException("SGD momentum " + momentum + " must be >= 0");
        if (nesterov && (momentum == 0 || dampening != 0)) throw new IllegalArgumentException("Nesterov momentum needs momentum > 0 and dampening 0");
        this.momentum = momentum;
        this.dampening = dampening;
        this.nesterov = nesterov;
    }

    /** In place (Tensor.scaleAndAdd): no parameter-sized temporaries, p - lr (g + m b) regrouped as (1 - lr wd) p - lr grad - lr m b. */
    @Override
    protected void update(ParamGroup group, Tensor p, Tensor grad, Map<String, Tensor> slots) {
        double wd = group.weightDecay, lr = group.lr;
        Tensor buf = null;
        if (momentum != 0) {
            buf = slots.get("momentum_buffer");
            if (buf == null) {
                slots.put("momentum_buffer", buf = grad.copy());
                if (wd != 0) buf.scaleAndAdd(1, p, wd);
            } else {
                buf.scaleAndAdd(momentum, grad, 1 - dampening);
                if (wd != 0) buf.scaleAndAdd(1, p, (1 - dampening) * wd);
            }
        }
        if (momentum == 0 || nesterov) {
            p.scaleAndAdd(1 - lr * wd, grad, -lr);
            if (nesterov) p.scaleAndAdd(1, buf, -lr * momentum);
        } else {
            p.scaleAndAdd(1, buf, -lr);
        }
    }
}
