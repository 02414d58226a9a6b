package io.featurefuse.nn;

import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Shape;
import io.featurefuse.engine.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A layer or model: named parameters, buffers and children, as torch.nn.Module. Names nest with
 * dots ({@code body.3.c1.weight}) in PyTorch's state_dict order (own parameters, own buffers, then
 * each child in registration order), so preset models read and write PyTorch's files.
 *
 * <p>Subclasses register what they own in their constructor and implement {@link #forward};
 * containers run children through {@link #call}, which is where {@link Summary} observes shapes.
 */
public abstract class Module {
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final Map<String, Tensor> buffers = new LinkedHashMap<>();
    private final Set<String> integerBuffers = new LinkedHashSet<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    /** This module's computation. Call children through {@link #call}, not their forward. */
    public abstract Tensor forward(Tensor x);

    /** Runs forward, reporting the output to a summary in progress. */
    public final Tensor call(Tensor x) {
        Tensor y = forward(x);
        Summary.observe(this, x, y);
        return y;
    }

    /** Floating-point operations of one forward pass from input shape to output shape (multiply-add = 2). */
    public long flops(Shape in, Shape out) {
        return 0;
    }

    // ---- registration (constructors) ------------------------------------------------------

    /** Registers a parameter (in the current {@link Precision}); returns the tensor to keep. */
    protected final Tensor parameter(String name, Tensor value) {
        checkName(name);
        Tensor p = inPrecision(value).requiresGrad(true);
        params.put(name, p);
        return p;
    }

    /** Registers a buffer (in the current {@link Precision}); returns the tensor to keep. */
    protected final Tensor buffer(String name, Tensor value) {
        checkName(name);
        Tensor b = inPrecision(value);
        buffers.put(name, b);
        return b;
    }

    private static Tensor inPrecision(Tensor t) {
        return t.dtype() == Precision.current() ? t : t.to(Precision.current());
    }

    /** A buffer that PyTorch keeps as int64 (num_batches_tracked); checkpoints write it as I64. */
    protected final Tensor integerBuffer(String name, Tensor value) {
        checkName(name);
        integerBuffers.add(name);
        buffers.put(name, value); // a counter: kept as given (float64 holds int64 counts exactly)
        return value;
    }

    protected final <M extends Module> M child(String name, M module) {
        checkName(name);
        children.put(name, module);
        return module;
    }

    private void checkName(String name) {
        if (name.isEmpty() || name.contains("."))
            throw new IllegalArgumentException("module member name '" + name + "' must be non-empty and contain no '.'");
        if (params.containsKey(name) || buffers.containsKey(name) || children.containsKey(name))
            throw new IllegalArgumentException("module member '" + name + "' is registered twice");
    }

    // ---- traversal --------------------------------------------------------------------------

    /** The direct children in registration order. */
    public final Map<String, Module> children() {
        return java.util.Collections.unmodifiableMap(children);
    }

    /** Every module of the tree with its dotted name ("" for this one), parents before children. */
    public final Map<String, Module> namedModules() {
        Map<String, Module> out = new LinkedHashMap<>();
        collectModules("", out);
        return out;
    }

    private void collectModules(String prefix, Map<String, Module> out) {
        out.put(prefix, this);
        children.forEach((n, m) -> m.collectModules(prefix.isEmpty() ? n : prefix + "." + n, out));
    }

    /** All parameters with dotted names. */
    public final Map<String, Tensor> namedParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        namedModules().forEach((p, m) -> m.params.forEach((n, t) -> out.put(p.isEmpty() ? n : p + "." + n, t)));
        return out;
    }

    public final List<Tensor> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /** Number of parameter elements (trainable only, or all). */
    public final long parameterCount(boolean trainableOnly) {
        long n = 0;
        for (Tensor p : parameters()) if (!trainableOnly || p.requiresGrad()) n += p.numel();
        return n;
    }

    /** Parameters and buffers, as PyTorch's state_dict (same names, same order). */
    public final Map<String, Tensor> stateDict() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collectState("", out);
        return out;
    }

    private void collectState(String prefix, Map<String, Tensor> out) {
        params.forEach((n, t) -> out.put(prefix + n, t));
        buffers.forEach((n, t) -> out.put(prefix + n, t));
        children.forEach((n, m) -> m.collectState(prefix + n + ".", out));
    }

    /** The state_dict names whose values are integers in PyTorch (written as I64). */
    public final Set<String> integerStateKeys() {
        Set<String> out = new LinkedHashSet<>();
        namedModules().forEach((p, m) -> m.integerBuffers.forEach(n -> out.add(p.isEmpty() ? n : p + "." + n)));
        return out;
    }

    /**
     * Copies values into this module's parameters and buffers, in place (optimizers keep their
     * references). A shape mismatch is always an error; with strict, so are missing and
     * unexpected names. Values are converted to each target's dtype. Returns what did not match.
     */
    public final StateDictReport loadStateDict(Map<String, Tensor> state, boolean strict) {
        Map<String, Tensor> mine = stateDict();
        List<String> missing = new ArrayList<>(), unexpected = new ArrayList<>(), misShaped = new ArrayList<>();
        for (var e : mine.entrySet()) {
            Tensor src = state.get(e.getKey());
            if (src == null) missing.add(e.getKey());
            else if (!src.shape().equals(e.getValue().shape()))
                misShaped.add(e.getKey() + " (file " + src.shape() + ", model " + e.getValue().shape() + ")");
        }
        for (String k : state.keySet()) if (!mine.containsKey(k)) unexpected.add(k);
        StateDictReport report = new StateDictReport(missing, unexpected, misShaped);
        if (!misShaped.isEmpty() || (strict && !report.clean())) throw new IllegalArgumentException("loadStateDict: " + report.describe());
        try (var off = GradMode.off()) {
            for (var e : mine.entrySet()) {
                Tensor src = state.get(e.getKey());
                if (src != null) e.getValue().assign(src.dtype() == e.getValue().dtype() ? src : src.to(e.getValue().dtype()));
            }
        }
        return report;
    }

    // ---- modes ----------------------------------------------------------------------------

    /** Training mode (batch statistics, dropout) for this module and all below it. Returns this. */
    public final Module train() {
        namedModules().values().forEach(m -> m.training = true);
        return this;
    }

    /** Evaluation mode (running statistics, no dropout) for this module and all below it. Returns this. */
    public final Module eval() {
        namedModules().values().forEach(m -> m.training = false);
        return this;
    }

    public final boolean isTraining() {
        return training;
    }

    /** This module's own flag only (summary restores modes with it). */
    final void setTrainingFlag(boolean on) {
        training = on;
    }

    /** Stops (or resumes) gradient updates for every parameter below this module. Returns this. */
    public final Module freeze(boolean frozen) {
        for (Tensor p : parameters()) p.requiresGrad(!frozen);
        return this;
    }

    public final void zeroGrad() {
        for (Tensor p : parameters()) p.zeroGrad();
    }

    /** Floating-point operations of one forward pass of one input of this shape (no batch dim), summed over the layers that count theirs. */
    public final long flopsPerInput(int... inputShape) {
        return Summary.flops(this, inputShape);
    }

    /** One line per module: output shape, parameters and FLOPs for one input of this shape (no batch dim). */
    public final String summary(int... inputShape) {
        return Summary.of(this, inputShape);
    }

    @Override
    public String toString() {
        return getClass().getSimpleName();
    }
}
