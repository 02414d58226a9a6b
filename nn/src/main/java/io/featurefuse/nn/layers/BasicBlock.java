package io.featurefuse.nn.layers;

import io.featurefuse.engine.BatchNormSpec;
import io.featurefuse.engine.ConvSpec;
import io.featurefuse.engine.Fused;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.Summary;
import java.util.random.RandomGenerator;

/**
 * The residual block of ResNet-18/34: relu(bn2(conv3x3(relu(bn1(conv3x3(x))))) + shortcut(x)),
 * the shortcut a 1x1 conv + BN when stride or width changes. Names c1 b1 c2 b2 sc follow the
 * reference model.
 */
public final class BasicBlock extends Module {
    private final Conv2d c1, c2;
    private final BatchNorm2d b1, b2;
    private final Sequential shortcut;

    public BasicBlock(int in, int out, int stride, RandomGenerator rng) {
        c1 = child("c1", new Conv2d(in, out, 3, stride, 1, false, rng));
        b1 = child("b1", new BatchNorm2d(out));
        c2 = child("c2", new Conv2d(out, out, 3, 1, 1, false, rng));
        b2 = child("b2", new BatchNorm2d(out));
        shortcut = stride == 1 && in == out ? null
                : child("sc", new Sequential(new Conv2d(in, out, 1, stride, 0, false, rng), new BatchNorm2d(out)));
    }

    @Override
    public Tensor forward(Tensor x) {
        if (OpFusion.foldsBn(b1)) {
            // Inference: every intermediate here is this block's own, so its buffer goes back as soon as it is used.
            Tensor y1 = OpFusion.convBn(c1, b1, true, x);
            Tensor s = shortcut == null ? x : shortcut.call(x);
            Tensor out = OpFusion.convBnAddRelu(c2, b2, y1, s); // the sum and its ReLU in the second conv's output pass
            y1.recycle();
            if (s != x) s.recycle();
            return out;
        }
        if (Summary.isObserving()) { // layer by layer, so the summary sees each (the shortcut's conv and norm, in this order)
            Tensor y2 = b2.call(c2.call(b1.call(c1.call(x)).relu()));
            return y2.addRelu(shortcut == null ? x : shortcut.get(1).call(shortcut.get(0).call(x)));
        }
        // Recording: one engine op, which writes b1's output a chunk of images at a time just before c2 reads it, and
        // the block's end, relu(b2(c2(y1)) + shortcut), in one pass; b2's normalised map is never written
        return recorded(null, null, x);
    }

    /**
     * call(relu(stemBn.call(stem.call(x)))) while recording in training (not while a summary watches): one engine op
     * (Fused.basicBlock with a stem), which writes the stem norm's output a chunk of images at a time just before c1
     * reads it. OpFusion runs a conv, BN and ReLU followed by a block so.
     */
    public Tensor callAfter(Conv2d stem, BatchNorm2d stemBn, Tensor x) {
        stemBn.countBatch();
        return recorded(stem, stemBn, x);
    }

    private Tensor recorded(Conv2d stem, BatchNorm2d stemBn, Tensor x) {
        b1.countBatch();
        b2.countBatch();
        ConvSpec sc = null;
        BatchNormSpec scBn = null;
        if (shortcut != null) {
            BatchNorm2d sb = (BatchNorm2d) shortcut.get(1);
            sb.countBatch();
            sc = spec((Conv2d) shortcut.get(0));
            scBn = sb.spec();
        }
        if (stem == null) return Fused.basicBlock(x, spec(c1), b1.spec(), spec(c2), b2.spec(), sc, scBn);
        return Fused.basicBlock(x, spec(stem), stemBn.spec(), spec(c1), b1.spec(), spec(c2), b2.spec(), sc, scBn);
    }

    private static ConvSpec spec(Conv2d conv) {
        return new ConvSpec(conv.weight(), conv.bias(), conv.options());
    }
}
