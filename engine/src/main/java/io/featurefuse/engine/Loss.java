package io.featurefuse.engine;

/** Loss functions, composed from primitive ops so their gradients come from the primitives'. */
public final class Loss {
    private Loss() {}

    /** Mean cross-entropy of logits [N, C] against integer labels, as torch.nn.functional.cross_entropy. */
    public static Tensor crossEntropy(Tensor logits, int[] labels) {
        return crossEntropy(logits, labels, 0);
    }

    /**
     * Mean cross-entropy with label smoothing eps: the target puts 1 - eps on the label and
     * eps / C on every class, as PyTorch's {@code label_smoothing}.
     */
    public static Tensor crossEntropy(Tensor logits, int[] labels, double labelSmoothing) {
        if (logits.rank() != 2)
            throw new IllegalArgumentException("crossEntropy: logits must be [N, C], not " + logits.shape());
        int n = logits.size(0), c = logits.size(1);
        if (labels.length != n)
            throw new IllegalArgumentException("crossEntropy: " + labels.length + " labels for " + n + " rows of logits");
        if (n == 0) throw new IllegalArgumentException("crossEntropy: an empty batch has no mean loss");
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new IllegalArgumentException("crossEntropy: label smoothing " + labelSmoothing + " must lie in [0, 1]");
        double[] target = new double[n * c];
        double off = labelSmoothing / c;
        java.util.Arrays.fill(target, off);
        for (int i = 0; i < n; i++) {
            if (labels[i] < 0 || labels[i] >= c)
                throw new IllegalArgumentException("crossEntropy: label " + labels[i] + " at position " + i + " is outside [0, " + c + ")");
            target[i * c + labels[i]] += 1 - labelSmoothing;
        }
        Tensor q = Tensor.of(target, n, c).to(logits.dtype());
        return q.mul(logits.logSoftmax(1)).sum().mul(-1.0 / n);
    }

    /** Mean squared error of two tensors of one shape. */
    public static Tensor mse(Tensor prediction, Tensor target) {
        if (!prediction.shape().equals(target.shape()))
            throw new IllegalArgumentException("mse: prediction " + prediction.shape() + " and target " + target.shape() + " differ in shape");
        Tensor d = prediction.sub(target);
        return d.mul(d).mean();
    }
}
