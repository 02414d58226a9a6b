package io.featurefuse.nn.optim;

import io.featurefuse.engine.Tensor;
import java.util.List;

/**
 * Parameters that share a learning rate and weight decay (e.g. a lower rate for a pretrained
 * backbone). The schedule scales every group's base rate by one factor.
 */
public final class ParamGroup {
    final List<Tensor> params;
    final double baseLr, weightDecay;
    double lr;

    public ParamGroup(List<Tensor> params, double lr, double weightDecay) {
        if (!(lr >= 0) || !(weightDecay >= 0)) throw new IllegalArgumentException("learning rate " + lr + " and weight decay " + weightDecay + " must be >= 0");
        this.params = List.copyOf(params);
        this.baseLr = lr;
        this.lr = lr;
        this.weightDecay = weightDecay;
    }

    public List<Tensor> params() { return params; }
    public double lr() { return lr; }
    public double baseLr() { return baseLr; }
    public double weightDecay() { return weightDecay; }
}
