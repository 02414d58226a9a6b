package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.Fusion;
import io.featurefuse.nn.layers.Conv2d;
import java.util.random.RandomGenerator;

/**
 * Cross-attention: every position of A attends to every position of B (single head, dimension d):
 * q = Wq a, k = Wk b, v = Wv b (1x1 convs), y = a + Wo softmax(q^T k / sqrt(d)) v. The maps may
 * differ in size and channels; the output has A's shape.
 */
public final class CrossAttention extends Fusion {
    private final Conv2d q, k, v, o;
    private final int d;

    public CrossAttention(int ca, int cb, RandomGenerator rng) {
        super(Needs.NOTHING);
        d = Math.max(8, Math.min(ca, cb) / 2);
        q = child("q", new Conv2d(ca, d, 1, 1, 0, false, rng));
        k = child("k", new Conv2d(cb, d, 1, 1, 0, false, rng));
        v = child("v", new Conv2d(cb, d, 1, 1, 0, false, rng));
        o = child("o", new Conv2d(d, ca, 1, 1, 0, true, rng));
    }

    @Override
    public Tensor fuse(Tensor a, Tensor b) {
        int n = a.size(0), ha = a.size(2), wa = a.size(3), pb = b.size(2) * b.size(3);
        Tensor qs = q.call(a).reshape(n, d, ha * wa).transpose(1, 2);   // [N, Pa, d]
        Tensor ks = k.call(b).reshape(n, d, pb);                         // [N, d, Pb]
        Tensor vs = v.call(b).reshape(n, d, pb).transpose(1, 2);         // [N, Pb, d]
        Tensor attn = qs.matmul(ks).mul(1 / Math.sqrt(d)).softmax(2);    // [N, Pa, Pb]
        Tensor ctx = attn.matmul(vs).transpose(1, 2).reshape(n, d, ha, wa);
        return a.add(o.call(ctx));
    }

    @Override
    public String toString() { return "cross-attention"; }
}
