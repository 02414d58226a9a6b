package io.featurefuse.nn.layers;

import io.featurefuse.engine.Fused;
import io.featurefuse.engine.DType;
import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.Summary;
import java.util.List;
import java.util.function.IntPredicate;
import java.util.function.ObjIntConsumer;

/**
 * Fused fast paths of layer chains (Sequential, Backbone, BasicBlock):
 * <ul>
 *   <li>in eval mode without recording, conv → BatchNorm2d (→ ReLU) runs as one convolution, BN's
 *       running statistics folded into its weight and bias, w' = w·s and b' = (b − μ)·s + β with
 *       s = γ / √(σ² + ε), and the ReLU applied in the convolution's output pass. Folding costs
 *       K·C·R·S multiplications a call, nothing next to the convolution, so it is redone every time
 *       and never stale;</li>
 *   <li>with batch statistics (training), conv → BatchNorm2d (→ ReLU) runs as
 *       {@link BatchNorm2d#callAfter}: the same two recorded ops, with BN's statistics gathered in the
 *       convolution's pass over its output instead of a pass of their own; and conv → BatchNorm2d →
 *       ReLU → MaxPool2d as {@link BatchNorm2d#callReluMaxPoolAfter}, the pool inside BN's pass; and
 *       conv → BatchNorm2d → ReLU → BasicBlock as {@link BasicBlock#callAfter}, one engine op in which the
 *       block's first conv reads BN's output chunk by chunk of images as it is written;</li>
 *   <li>otherwise BatchNorm2d → ReLU runs as one op ({@link BatchNorm2d#callRelu}).</li>
 * </ul>
 * One pass over the output instead of two or three, and fewer activation buffers. A layer whose
 * output someone reads (a tap) is never fused away, and while a summary records layer shapes
 * every layer runs on its own.
 */
public final class OpFusion {
    private OpFusion() {}

    /**
     * How many layers from i on (up to last) run as one fused op: 4 (conv, BN, ReLU, max pool; while recording; or conv, BN, ReLU,
     * BasicBlock in training), 3 (conv, BN, ReLU), 2 (conv,
     * BN; or BN, ReLU), or 0 where they cannot. observed(j) says someone reads layer j's output
     * (a tap), which keeps it from disappearing inside a fusion.
     */
    public static int span(List<Module> layers, int i, int last, IntPredicate observed) {
        if (Summary.isObserving() || i + 1 > last || observed.test(i)) return 0;
        Module first = layers.get(i), second = layers.get(i + 1);
        if (first instanceof BatchNorm2d) return isRelu(second) ? 2 : 0;
        if (!(first instanceof Conv2d) || !(second instanceof BatchNorm2d bn) || !(foldsBn(bn) || bn.isTraining())) return 0;
        if (i + 2 <= last && isRelu(layers.get(i + 2)) && !observed.test(i + 1)) {
            boolean pooled = i + 3 <= last && layers.get(i + 3) instanceof MaxPool2d && !observed.test(i + 2) && !foldsBn(bn);
            boolean block = i + 3 <= last && layers.get(i + 3) instanceof BasicBlock && !observed.test(i + 2) && bn.isTraining();
            return pooled || block ? 4 : 3;
        }
        return 2;
    }

    /**
     * Whether a conv followed by bn may run as {@link #convBn} now: eval mode, no recording, no
     * summary watching layer by layer. For modules that chain a conv and a BN themselves.
     */
    public static boolean foldsBn(BatchNorm2d bn) {
        return !Summary.isObserving() && !GradMode.isEnabled() && !bn.isTraining();
    }

    private static boolean isRelu(Module m) {
        return m instanceof Activation a && a.kind() == Activation.Kind.RELU;
    }

    /** Runs layers[i .. i + span) fused; span from {@link #span}. */
    public static Tensor run(List<Module> layers, int i, int span, Tensor x) {
        if (layers.get(i) instanceof BatchNorm2d bn) return bn.callRelu(x);
        Conv2d conv = (Conv2d) layers.get(i);
        BatchNorm2d bn = (BatchNorm2d) layers.get(i + 1);
        if (span == 4 && layers.get(i + 3) instanceof BasicBlock block) return block.callAfter(conv, bn, x);
        if (span == 4) return bn.callReluMaxPoolAfter(conv, x, ((MaxPool2d) layers.get(i + 3)).options());
        return bn.isTraining() ? bn.callAfter(conv, x, span == 3) : convBn(conv, bn, span == 3, x);
    }

    /** Runs layers[from .. to] in order, fusing where {@link #span} allows; returns the last output. */
    public static Tensor sequence(List<Module> layers, int from, int to, Tensor x) {
        return sequence(layers, from, to, x, j -> false, (t, j) -> {});
    }

    /**
     * Runs layers[from .. to] in order, fusing where {@link #span} allows, and hands the output of
     * every observed layer j to tap. Without recording (inference), an intermediate result goes
     * back to the engine's buffer pool as soon as the next layer has used it, when both layers are
     * this package's own (which keep no reference to what they take or make) and no tap wants it:
     * inference then reuses its memory as training does.
     */
    public static Tensor sequence(List<Module> layers, int from, int to, Tensor x, IntPredicate observed, ObjIntConsumer<Tensor> tap) {
        boolean inference = !GradMode.isEnabled();
        Tensor made = null; // the last output made inside this chain, if nobody else can hold it
        for (int i = from; i <= to; ) {
            int span = span(layers, i, to, observed);
            int end = i + Math.max(span, 1) - 1;
            Tensor y = span > 0 ? run(layers, i, span, x) : layers.get(i).call(x);
            if (made != null && !y.sharesStorage(made) && keepsNothing(layers.get(i))) made.recycle();
            made = inference && !observed.test(end) && keepsNothing(layers.get(end)) ? y : null;
            if (observed.test(end)) tap.accept(y, end);
            x = y;
            i = end + 1;
        }
        return x;
    }

    /** Whether m is one of this package's layers (or a chain of them): none keeps a reference to its input or output. */
    static boolean keepsNothing(Module m) {
        return switch (m) {
            case Conv2d c -> true;
            case BatchNorm2d b -> true;
            case Activation a -> true;
            case MaxPool2d p -> true;
            case AvgPool2d p -> true;
            case AdaptiveAvgPool2d p -> true;
            case Dropout d -> true;
            case Flatten f -> true;
            case Identity i -> true;
            case Linear l -> true;
            case BasicBlock b -> true;
            case Sequential s -> s.children().values().stream().allMatch(OpFusion::keepsNothing);
            default -> false;
        };
    }

    /** conv then BN with running statistics, then ReLU if asked, as one convolution. For eval without recording. */
    public static Tensor convBn(Conv2d conv, BatchNorm2d bn, boolean relu, Tensor x) {
        Tensor[] folded = fold(conv, bn, x);
        return relu ? Fused.conv2dRelu(x, folded[0], folded[1], conv.options()) : x.conv2d(folded[0], folded[1], conv.options());
    }

    /**
     * relu(bn(conv(maps each resized to to's size, joined along channels))) as one convolution, BN folded
     * (Fused.conv2dOfResizedConcatRelu): concat fusion's inference. For eval without recording.
     */
    public static Tensor convBnReluOfResizedConcat(Conv2d conv, BatchNorm2d bn, java.util.List<Tensor> maps, io.featurefuse.engine.ResizeSpec to) {
        Tensor[] folded = fold(conv, bn, maps.get(0));
        return Fused.conv2dOfResizedConcatRelu(maps, to, folded[0], folded[1], conv.options());
    }

    /**
     * relu(bn(conv(x)) + residual) as one convolution, BN folded and the residual added in its output pass: a
     * residual block's end. For eval without recording.
     */
    public static Tensor convBnAddRelu(Conv2d conv, BatchNorm2d bn, Tensor x, Tensor residual) {
        Tensor[] folded = fold(conv, bn, x);
        return Fused.conv2dAddRelu(x, folded[0], folded[1], residual, conv.options());
    }

    /** The weight and bias of conv with bn folded in, computed in float64, then rounded once to x's type. */
    private static Tensor[] fold(Conv2d conv, BatchNorm2d bn, Tensor x) {
        Tensor scale = Tensor.ones(bn.runningVar().numel()).to(DType.F64).div(f64(bn.runningVar()).add(bn.eps()).sqrt());
        if (bn.weight() != null) scale = scale.mul(f64(bn.weight()));
        Tensor w = f64(conv.weight()).mul(scale.reshape(-1, 1, 1, 1)).to(x.dtype());
        Tensor b = (conv.bias() == null ? f64(bn.runningMean()).neg() : f64(conv.bias()).sub(f64(bn.runningMean()))).mul(scale);
        if (bn.bias() != null) b = b.add(f64(bn.bias()));
        return new Tensor[] {w, b.to(x.dtype())};
    }

    private static Tensor f64(Tensor t) {
        return t.to(DType.F64);
    }
}
