package io.featurefuse.engine;

import io.featurefuse.engine.cpu.BinaryOp;
import io.featurefuse.engine.cpu.UnaryOp;
import java.util.List;

/**
 * One recorded op of the autograd tape: its inputs and what its backward rule needs saved.
 * Sealed, so {@link Autograd}'s one switch over these records is checked by the compiler to give
 * every op a gradient. The rules themselves live beside each op's forward (Elementwise,
 * ReduceOps, ViewOps, MatMulOp, ConvOps, PoolOps, NormOps, ResizeOps).
 */
sealed interface Node {
    List<Tensor> inputs();

    String opName();

    /** Hands back to the pool what only this node's backward reads, once backward is past it (a recycling backward). */
    default void recycleSaved() {}

    /** a op b with broadcasting. Saves both inputs. */
    record Binary(BinaryOp op, Tensor a, Tensor b) implements Node {
        public List<Tensor> inputs() { return List.of(a, b); }
        public String opName() { return op.opName; }
    }

    /** relu(a + b) with broadcasting. Saves its output: the gradient passes where it is positive. */
    record AddRelu(Tensor a, Tensor b, Tensor out) implements Node {
        public List<Tensor> inputs() { return List.of(a, b); }
        public String opName() { return "add_relu"; }
    }

    /** op(x; p, q). Saves the input and the output (exp, sqrt, sigmoid, tanh use the output). */
    record Unary(UnaryOp op, Tensor x, Tensor out, double p, double q) implements Node {
        public List<Tensor> inputs() { return List.of(x); }
        public String opName() { return op.opName; }
    }

    /** Sum over dims; keepShape is the output shape with reduced dims kept as size 1. */
    record Sum(Tensor x, Shape keepShape) implements Node {
        public List<Tensor> inputs() { return List.of(x); }
        public String opName() { return "sum"; }
    }

    /** Max or min over dims. Saves the input and the output in keepdim form, to find the arg positions. */
    record Extremum(Tensor x, Tensor outKeep, boolean max) implements Node {
        public List<Tensor> inputs() { return List.of(x); }
        public String opName() { return max ? "max" : "min"; }
    }

    record Reshape(Tensor x) implements Node {
        public List<Tensor> inputs() { return List.of(x); }
        public String opName() { return "reshape"; }
    }

    record Permute(Tensor x, int[] dims) implements Node {
        public List<Tensor> inputs() { return List.of(x); }
        public String opName() { return "permute"; }
    }

    record Expand(Tensor x) implements Node {
        public List<Tensor> inputs() { return List.of(x); }
        public String opName() { return "expand"; }
    }

    /** Elements start, start+step, ... along dim. */
    record Slice(Tensor x, int dim, int start, int step) implements Node {
        public List<Tensor> inputs() { return List.of(x); }
        public String opName() { return "slice"; }
    }

    record Concat(List<Tensor> xs, int dim) implements Node {
        public List<Tensor> inputs() { return xs; }
        public String opName() { return "concat"; }
    }

    /** Constant padding; before[d] elements were added in front of dim d. */
    record Pad(Tensor x, int[] before) implements Node {
        public List<Tensor> inputs() { return List.of(x); }
        public String opName() { return "pad"; }
    }

    /** Batched a @ b with broadcast batch dims. Saves both inputs. */
    record MatMul(Tensor a, Tensor b) implements Node {
        public List<Tensor> inputs() { return List.of(a, b); }
        public String opName() { return "matmul"; }
    }

    /** conv2d; bias may be null. Saves input and weight, each needed for the other's gradient. */
    record Conv2d(Tensor x, Tensor weight, Tensor bias, io.featurefuse.engine.cpu.ConvGeom geom) implements Node {
        public List<Tensor> inputs() { return bias == null ? List.of(x, weight) : List.of(x, weight, bias); }
        public String opName() { return "conv2d"; }
    }

    /**
     * conv2d over maps joined along channels (bias may be null), a map with resized[i] (else null; the array may be null:
     * none) resized to the output's size before (see PointwiseParts). Saves the maps and the weight.
     */
    record Conv2dOfConcat(List<Tensor> maps, Tensor weight, Tensor bias, io.featurefuse.engine.cpu.ConvGeom geom,
                          io.featurefuse.engine.cpu.ResizeKernels.Prepared[] resized) implements Node {
        public List<Tensor> inputs() {
            List<Tensor> all = new java.util.ArrayList<>(maps);
            all.add(weight);
            if (bias != null) all.add(bias);
            return all;
        }
        public String opName() { return "conv2d_of_concat"; }
    }

    /** relu(conv2d (+ residual)) fused, residual null when none; saves the output for the ReLU's mask. */
    record Conv2dRelu(Conv2d conv, Tensor residual, Tensor out) implements Node {
        public List<Tensor> inputs() {
            if (residual == null) return conv.inputs();
            List<Tensor> all = new java.util.ArrayList<>(conv.inputs());
            all.add(residual);
            return all;
        }
        public String opName() { return residual == null ? "conv2d_relu" : "conv2d_add_relu"; }
    }

    /** Max (argmax saved) or average (argmax null) pooling over the saved windows. */
    record Pool2d(Tensor x, io.featurefuse.engine.cpu.Pool2dKernels.Windows windows, int[] argmax) implements Node {
        public List<Tensor> inputs() { return List.of(x); }
        public String opName() { return argmax == null ? "avg_pool2d" : "max_pool2d"; }
        public void recycleSaved() { if (argmax != null) BufferPool.give(argmax); }
    }

    /** Bilinear or nearest resizing through per-axis source tables. */
    record Resize(Tensor x, io.featurefuse.engine.cpu.ResizeKernels.Axis rows, io.featurefuse.engine.cpu.ResizeKernels.Axis cols) implements Node {
        public List<Tensor> inputs() { return List.of(x); }
        public String opName() { return "interpolate"; }
    }

    /** conv_transpose2d without bias (added as a separate op); geom is that of the adjoint conv2d. */
    record ConvTranspose2d(Tensor x, Tensor weight, io.featurefuse.engine.cpu.ConvGeom geom) implements Node {
        public List<Tensor> inputs() { return List.of(x, weight); }
        public String opName() { return "conv_transpose2d"; }
    }

    /** Batch norm; weight and bias may be null. Saves the input and the per-channel mean and 1/std it used. */
    record BatchNorm(Tensor x, Tensor weight, Tensor bias, double[] mean, double[] invstd, boolean training) implements Node {
        public List<Tensor> inputs() {
            List<Tensor> in = new java.util.ArrayList<>(3);
            in.add(x);
            if (weight != null) in.add(weight);
            if (bias != null) in.add(bias);
            return in;
        }
        public String opName() { return "batch_norm"; }
    }

    /** relu(batch norm) fused; saves the affine the ReLU followed, whose sign backward recomputes as the ReLU's mask. */
    record BatchNormRelu(BatchNorm bn, io.featurefuse.engine.cpu.BatchNormKernels.ReluOf relu) implements Node {
        public List<Tensor> inputs() { return bn.inputs(); }
        public String opName() { return "batch_norm_relu"; }
    }

    /** relu(batch norm) pooled, fused: saves what BatchNormRelu saves, the pool's windows and a max pool's argmax (null for an average). */
    record BatchNormReluPool(BatchNorm bn, io.featurefuse.engine.cpu.BatchNormKernels.ReluOf relu, io.featurefuse.engine.cpu.Pool2dKernels.Windows windows,
                             int[] argmax) implements Node {
        public List<Tensor> inputs() { return bn.inputs(); }
        public String opName() { return argmax == null ? "batch_norm_relu_avg_pool" : "batch_norm_relu_max_pool"; }
        public void recycleSaved() { if (argmax != null) BufferPool.give(argmax); }
    }

    /**
     * relu(batch norm of x + shortcut), the shortcut as it is (shortcutBn null) or batch-normalised
     * (shortcutBn's x is the shortcut). Saves the output, whose sign is the ReLU's mask.
     */
    record BatchNormAddRelu(BatchNorm bn, Tensor shortcut, BatchNorm shortcutBn, Tensor out) implements Node {
        public List<Tensor> inputs() {
            List<Tensor> in = new java.util.ArrayList<>(bn.inputs());
            if (shortcutBn == null) in.add(shortcut);
            else in.addAll(shortcutBn.inputs());
            return in;
        }
        public String opName() { return "batch_norm_add_relu"; }
    }

    /** A dtype conversion. */
    record Cast(Tensor x) implements Node {
        public List<Tensor> inputs() { return List.of(x); }
        public String opName() { return "to"; }
    }
}
