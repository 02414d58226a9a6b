package io.featurefuse.nn;

import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Shape;
import io.featurefuse.engine.Tensor;
import java.util.IdentityHashMap;
import java.util.Map;

/** The per-layer table of {@link Module#summary}: it runs one input through and records each module's output. */
public final class Summary {
    private static final ThreadLocal<Map<Module, Shape[]>> ACTIVE = new ThreadLocal<>();

    private Summary() {}

    /** Whether a summary is recording layer shapes on this thread (fused fast paths step aside then). */
    public static boolean isObserving() {
        return ACTIVE.get() != null;
    }

    static void observe(Module m, Tensor in, Tensor out) {
        Map<Module, Shape[]> seen = ACTIVE.get();
        if (seen != null) seen.putIfAbsent(m, new Shape[] {in.shape(), out.shape()});
    }

    /** FLOPs of one forward pass of one image of this shape. */
    static long flops(Module root, int... inputShape) {
        Map<Module, Shape[]> seen = trace(root, inputShape);
        return subtreeFlops(root, seen, new IdentityHashMap<>());
    }

    /** Runs one zero image through root in eval mode, without gradients, recording each module's input and output shapes. */
    private static Map<Module, Shape[]> trace(Module root, int... inputShape) {
        int[] dims = new int[inputShape.length + 1];
        dims[0] = 1;
        System.arraycopy(inputShape, 0, dims, 1, inputShape.length);
        Map<String, Module> modules = root.namedModules();
        Map<Module, Boolean> modes = new IdentityHashMap<>();
        modules.values().forEach(m -> modes.put(m, m.isTraining()));
        Map<Module, Shape[]> seen = new IdentityHashMap<>();
        root.eval(); // a summary must not move running statistics
        ACTIVE.set(seen);
        try (var off = GradMode.off()) {
            root.call(Tensor.zeros(dims));
        } finally {
            ACTIVE.remove();
            modes.forEach(Module::setTrainingFlag);
        }
        return seen;
    }

    static String of(Module root, int... inputShape) {
        Map<String, Module> modules = root.namedModules();
        Map<Module, Shape[]> seen = trace(root, inputShape);
        Map<Module, Long> flops = new IdentityHashMap<>();
        StringBuilder s = new StringBuilder(String.format("%-32s %-22s %-18s %12s %14s%n", "layer", "type", "output", "params", "FLOPs"));
        long totalFlops = subtreeFlops(root, seen, flops);
        for (var e : modules.entrySet()) {
            Module m = e.getValue();
            String name = e.getKey().isEmpty() ? "(model)" : "  ".repeat(e.getKey().split("\\.").length - 1) + e.getKey();
            Shape[] io = seen.get(m);
            s.append(String.format("%-32s %-22s %-18s %,12d %,14d%n", name, m, io == null ? "-" : io[1].toString(),
                    m.parameterCount(false), flops.getOrDefault(m, 0L)));
        }
        s.append(String.format("input %s, %,d parameters (%,d trainable), %,d FLOPs per image%n", Shape.of(inputShape),
                root.parameterCount(false), root.parameterCount(true), totalFlops));
        return s.toString();
    }

    private static long subtreeFlops(Module m, Map<Module, Shape[]> seen, Map<Module, Long> memo) {
        Shape[] io = seen.get(m);
        long f = io == null ? 0 : m.flops(io[0], io[1]);
        for (Module c : m.children().values()) f += subtreeFlops(c, seen, memo);
        memo.put(m, f);
        return f;
    }
}
