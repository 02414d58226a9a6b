package io.featurefuse.nn.layers;

import io.featurefuse.engine.DType;
import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.Summary;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * Fused fast paths of layer chains (Sequential, Backbone, BasicBlock):
 * <ul>
 *   <li>in eval mode without recording, conv → BatchNorm2d (→ ReLU) runs as one convolution, BN's
 *       running statistics folded into its weight and bias, w' = w·s and b' = (b − μ)·s + β with
 *       s = γ / √(σ² + ε), and the ReLU applied in the convolution's output pass. Folding costs
 *       K·C·R·S multiplications a call, nothing next to the convolution, so it is redone every time
 *       and never stale;</li>
 *   <li>otherwise (training too) BatchNorm2d → ReLU runs as one op ({@link BatchNorm2d#callRelu}).</li>
 * </ul>
 * One pass over the output instead of two or three, and fewer activation buffers. A layer whose
 * output someone reads (a tap) is never fused away, and while a summary records layer shapes
 * every layer runs on its own.
 */
public final class OpFusion {
    private OpFusion() {}

    /**
     * How many layers from i on (up to last) run as one fused op: 3 (conv, BN, ReLU in eval),
     * 2 (conv, BN in eval; or BN, ReLU), or 0 where they cannot. observed(j) says someone reads
     * layer j's output (a tap), which keeps it from disappearing inside a fusion.
     */
    public static int span(List<Module> layers, int i, int last, IntPredicate observed) {
        if (Summary.isObserving() || i + 1 > last || observed.test(i)) return 0;
        Module first = layers.get(i), second = layers.get(i + 1);
        if (first instanceof BatchNorm2d) return isRelu(second) ? 2 : 0;
        if (GradMode.isEnabled() || !(first instanceof Conv2d) || !(second instanceof BatchNorm2d bn) || bn.isTraining()) return 0;
        if (i + 2 <= last && isRelu(layers.get(i + 2)) && !observed.test(i + 1)) return 3;
        return 2;
    }

    private static boolean isRelu(Module m) {
        return m instanceof Activation a && a.kind() == Activation.Kind.RELU;
    }

    /** Runs layers[i .. i + span) fused; span from {@link #span}. */
    public static Tensor run(List<Module> layers, int i, int span, Tensor x) {
        if (layers.get(i) instanceof BatchNorm2d bn) return bn.callRelu(x);
        return convBn((Conv2d) layers.get(i), (BatchNorm2d) layers.get(i + 1), span == 3, x);
    }

    /** Runs layers[from .. to] in order, fusing where {@link #span} allows; returns the last output. */
    public static Tensor sequence(List<Module> layers, int from, int to, Tensor x) {
        for (int i = from; i <= to; ) {
            int span = span(layers, i, to, j -> false);
            if (span > 0) {
                x = run(layers, i, span, x);
                i += span;
            } else {
                x = layers.get(i++).call(x);
            }
        }
        return x;
    }

    /** conv then BN with running statistics, then ReLU if asked, as one convolution. For eval without recording. */
    public static Tensor convBn(Conv2d conv, BatchNorm2d bn, boolean relu, Tensor x) {
        // Folded in float64, then rounded once to the input's type.
        Tensor scale = Tensor.ones(bn.runningVar().numel()).to(DType.F64).div(f64(bn.runningVar()).add(bn.eps()).sqrt());
        if (bn.weight() != null) scale = scale.mul(f64(bn.weight()));
        Tensor w = f64(conv.weight()).mul(scale.reshape(-1, 1, 1, 1)).to(x.dtype());
        Tensor b = (conv.bias() == null ? f64(bn.runningMean()).neg() : f64(conv.bias()).sub(f64(bn.runningMean()))).mul(scale);
        if (bn.bias() != null) b = b.add(f64(bn.bias()));
        b = b.to(x.dtype());
        return relu ? x.conv2dRelu(w, b, conv.options()) : x.conv2d(w, b, conv.options());
    }

    private static Tensor f64(Tensor t) {
        return t.to(DType.F64);
    }
}
