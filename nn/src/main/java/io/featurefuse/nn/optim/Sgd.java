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

    @Override
    protected void update(ParamGroup group, Tensor p, Tensor grad, Map<String, Tensor> slots) {
        Tensor g = group.weightDecay == 0 ? grad : grad.add(p.mul(group.weightDecay));
        if (momentum != 0) {
            Tensor buf = slots.get("momentum_buffer");
            if (buf == null) slots.put("momentum_buffer", buf = g.copy());
            else buf.assign(buf.mul(momentum).add(dampening == 0 ? g : g.mul(1 - dampening)));
            g = nesterov ? g.add(buf.mul(momentum)) : buf;
        }
        p.assign(p.sub(g.mul(group.lr)));
    }
}
