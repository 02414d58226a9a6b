package io.featurefuse.engine;

/** PyTorch-like text for tensors: nested brackets up to 1000 elements, else shape only. */
final class TensorFormat {
    private static final int MAX_ELEMENTS = 1000;

    private TensorFormat() {}

    static String format(Tensor t) {
        StringBuilder sb = new StringBuilder("tensor(");
        if (t.numel() > MAX_ELEMENTS) {
            sb.append("shape=").append(t.shape());
        } else {
            double[] v = t.toArray();
            boolean integral = true;
            for (double x : v) integral &= x == Math.rint(x) && Math.abs(x) < 1e15;
            int[] pos = {0};
            appendDim(sb, t.shape(), 0, v, pos, integral, 7);
            if (t.rank() > 0 && t.numel() == 0) sb.append(", size=").append(t.shape());
        }
        sb.append(", dtype=").append(t.dtype());
        if (t.gradFn != null) sb.append(", grad_fn=").append(t.gradFn.opName());
        else if (t.requiresGrad()) sb.append(", requires_grad=true");
        return sb.append(')').toString();
    }

    private static void appendDim(StringBuilder sb, Shape s, int dim, double[] v, int[] pos, boolean integral, int indent) {
        if (dim == s.rank()) {
            double x = v[pos[0]++];
            if (Double.isNaN(x)) sb.append("nan");
            else if (Double.isInfinite(x)) sb.append(x > 0 ? "inf" : "-inf");
            else if (integral) sb.append((long) x).append('.');
            else sb.append(String.format(java.util.Locale.ROOT, "%.4f", x));
            return;
        }
        sb.append('[');
        for (int i = 0; i < s.dim(dim); i++) {
            if (i > 0) {
                sb.append(',');
                if (dim == s.rank() - 1) sb.append(' ');
                else sb.append("\n".repeat(s.rank() - 1 - dim)).append(" ".repeat(indent + dim + 1));
            }
            appendDim(sb, s, dim + 1, v, pos, integral, indent);
        }
        sb.append(']');
    }
}
