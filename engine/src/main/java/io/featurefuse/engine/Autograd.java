package io.featurefuse.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Collections;

/**
 * Reverse-mode differentiation over the recorded tape: a topological order by iterative DFS
 * (no recursion-depth limit), then each node's backward rule in reverse, gradients summed where
 * a tensor was used more than once, and leaf gradients accumulated into {@code grad}.
 * Backward runs with recording off. Unless asked to keep it, the graph is released afterwards:
 * saved tensors become garbage, and a second backward through it is a clear error.
 */
final class Autograd {
    private Autograd() {}

    /** The per-output link to its node; freed after backward. */
    static final class GradFn {
        private Node node;
        private final String opName;

        GradFn(Node node) {
            this.node = node;
            this.opName = node.opName();
        }

        Node node() {
            if (node == null)
                throw new IllegalStateException("backward: the graph through '" + opName + "' was already freed by an earlier"
                        + " backward(); call backward(grad, true) the first time to keep it, or run the forward pass again");
            return node;
        }

        String opName() {
            return opName;
        }

        /** Whether a backward released this link's node (its output is then outside any graph). */
        boolean isFreed() {
            return node == null;
        }

        void free() {
            node = null;
        }
    }

    static void backward(Tensor root, Tensor grad, boolean retainGraph) {
        backward(root, grad, retainGraph, false);
    }

    /**
     * With recycle (and without retainGraph), the buffers of the graph's intermediate results go
     * back to the {@link BufferPool} as soon as backward is past them: a tensor made by an op is
     * needed only by the ops that consumed it, and in reverse topological order those come first.
     * Gradients of intermediate results go back in any case, once their node has used them: no
     * caller can see them. The root and the leaves (and their grads) are never recycled.
     */
    static void backward(Tensor root, Tensor grad, boolean retainGraph, boolean recycle) {
        if (!root.requiresGrad())
            throw new IllegalStateException("backward: this tensor does not require grad: no input of the ops that made it"
                    + " had requiresGrad(true), or it was computed under GradMode.off()");
        if (grad == null) {
            if (root.numel() != 1)
                throw new IllegalArgumentException("backward: an output of shape " + root.shape()
                        + " needs a gradient argument; backward() without one is for scalars");
            grad = Tensor.full(root.shape(), root.dtype(), 1);
        } else {
            if (!grad.shape().equals(root.shape()))
                throw new IllegalArgumentException("backward: gradient shape " + grad.shape() + " differs from output shape " + root.shape());
            if (grad.dtype() != root.dtype())
                throw new IllegalArgumentException("backward: gradient dtype " + grad.dtype() + " differs from output dtype " + root.dtype());
        }
        Map<Tensor, Integer> readers = new IdentityHashMap<>();
        List<Tensor> order = topoOrder(root, readers);
        PendingGrads grads = new PendingGrads(grad);
        Map<Tensor, Deferred> deferred = new IdentityHashMap<>();
        Map<Tensor, NormOps.PlaneGradientSums> presummed = new IdentityHashMap<>();
        try (var off = GradMode.off()) {
            if (root.gradFn == null) {
                accumulateLeaf(root, grad, false);
                return;
            }
            grads.put(root, grad);
            for (int i = order.size() - 1; i >= 0; i--) {
                Tensor t = order.get(i);
                Tensor g = grads.take(t);
                Deferred later = deferred.remove(t);
                if (g == null && later == null) {
                    release(order, i, retainGraph, recycle && t != root, grads);
                    continue;
                }
                Node node = t.gradFn.node();
                // a conv whose input already has a gradient waiting adds its own into that one as it writes it
                Tensor sum = node instanceof Node.Conv2d c && ConvOps.addsInputGradient(c) ? grads.summable(c.x()) : null;
                Tensor[] in;
                boolean[] sides;
                if (later != null) {
                    // deferred only where the norm was t's one reader (readers), so nothing else can have sent t a gradient
                    if (g != null) throw new IllegalStateException("backward: " + node.opName() + "'s output got a gradient besides its norm's deferred one");
                    if (node instanceof Node.Conv2d c) {
                        // the norm before this conv, its input gradient's one reader, gets its sums' terms as that gradient is made
                        Tensor y = c.x();
                        boolean ahead = sum == null && y.requiresGrad() && y.gradFn != null && readers.get(y) == 1
                                && NormOps.presums(y.gradFn.node(), x -> readers.get(x) == 1);
                        int planes = ahead ? y.shape.dim(0) * y.shape.dim(1) : 0;
                        NormOps.PlaneGradientSums terms = ahead ? new NormOps.PlaneGradientSums(new double[planes], new double[planes]) : null;
                        in = ConvOps.backwardOfChunks(c, later.dx, sum, ahead ? y.gradFn.node() : null, terms);
                        if (ahead) presummed.put(y, terms);
                    } else in = ConcatConvOps.backwardOfChunks((Node.Conv2dOfConcat) node, later.dx);
                    later.norm.madeOne(order, retainGraph, recycle, grads);
                } else if ((sides = NormOps.deferrable(node, g, x -> readers.get(x) == 1)) != null) {
                    // its input's one reader: the gradient is made chunk by chunk by the conv that made that input (NormOps.Deferral)
                    NormOps.Deferral into = new NormOps.Deferral();
                    in = NormOps.deferredBackward(node, g, into, sides, presummed.remove(t));
                    Tensor[] xs = NormOps.normInputs(node);
                    HeldNorm norm = new HeldNorm(i, g, into.held, (sides[0] ? 1 : 0) + (sides[1] ? 1 : 0));
                    if (into.held != null) grads.hold(into.held);
                    if (sides[0]) deferred.put(xs[0], new Deferred(into.dx, norm));
                    if (sides[1]) deferred.put(xs[1], new Deferred(into.shortcutDx, norm));
                    accumulate(node, in, grads, null);
                    continue;
                } else {
                    in = sum != null ? ConvOps.backward((Node.Conv2d) node, g, sum) : inputGrads(node, g);
                }
                // This node's saved tensors are not needed again: let them go now, not after the whole
                // backward, so that activations are freed as their gradients are made (as PyTorch does).
                release(order, i, retainGraph, recycle && t != root, grads);
                accumulate(node, in, grads, sum);
                if (g != null) grads.done(g);
            }
        } finally {
            if (!retainGraph) for (Tensor t : order) if (t != null && t.gradFn != null) t.gradFn.free();
        }
    }

    /** A batch norm's input gradient left to the conv that made its input: dx makes it; norm, what it holds until then. */
    private record Deferred(io.featurefuse.engine.cpu.Conv2dKernels.OutputGradient dx, HeldNorm norm) {}

    /**
     * A norm node whose deferred gradients are still to be made: where it sits in the order, its incoming gradient and
     * the one it handed on that they read (or null), all held, with its saved tensors, until the last is made.
     */
    private static final class HeldNorm {
        private final int index;
        private final Tensor g, held;
        private int left;

        HeldNorm(int index, Tensor g, Tensor held, int left) {
            this.index = index;
            this.g = g;
            this.held = held;
            this.left = left;
        }

        /** One deferred gradient made: after the last, the node is released and what it held goes. */
        void madeOne(List<Tensor> order, boolean retainGraph, boolean recycle, PendingGrads grads) {
            if (--left > 0) return;
            release(order, index, retainGraph, recycle && index != order.size() - 1, grads);
            grads.done(g);
            if (held != null) grads.done(held);
        }
    }

    /** Each input's gradient from in (node's rule, in node.inputs() order) added to what waits for it, or to a leaf's grad; sum: already added. */
    private static void accumulate(Node node, Tensor[] in, PendingGrads grads, Tensor sum) {
        List<Tensor> inputs = node.inputs();
        for (int k = 0; k < in.length; k++) {
            Tensor x = inputs.get(k), gx = in[k];
            if (gx == null || !x.requiresGrad() || gx == sum) continue; // sum: already x's waiting gradient
            if (!gx.shape().equals(x.shape()))
                throw new IllegalStateException("backward of " + node.opName() + " produced gradient " + gx.shape()
                        + " for an input of shape " + x.shape());
            if (x.gradFn == null) accumulateLeaf(x, gx, grads.isUnshared(gx));
            else grads.add(x, gx);
        }
    }

    /**
     * Gradients waiting for their node, summed where a tensor was used more than once, with a count
     * of how many of them (and the one in use) sit on each storage: a rule may pass its incoming
     * gradient on unchanged or as a view (add, reshape), so a storage is recycled only when no
     * waiting gradient is on it any more.
     */
    private static final class PendingGrads {
        private final Map<Tensor, Tensor> byTensor = new IdentityHashMap<>();
        private final Map<Storage, Integer> users = new IdentityHashMap<>();
        private final Storage callers;

        PendingGrads(Tensor rootGrad) {
            callers = rootGrad.storage;
        }

        void put(Tensor x, Tensor g) {
            byTensor.put(x, g);
            users.merge(g.storage, 1, Integer::sum);
        }

        void add(Tensor x, Tensor g) {
            Tensor old = byTensor.get(x);
            if (old == null) {
                put(x, g);
                return;
            }
            put(x, old.add(g));
            done(old);
            // g now lives on in the sum: a fresh gradient nobody else holds goes back to the pool
            // (two convs reading one tensor left one 12.8 MB array to the GC every training step)
            if (isUnshared(g) && g.storage != callers) g.storage.recycle();
        }

        /**
         * x's waiting gradient where a rule may add into it in place: a whole buffer from offset 0 that no other
         * waiting or in-use gradient is on, and not the caller's; else null.
         */
        Tensor summable(Tensor x) {
            Tensor old = byTensor.get(x);
            if (old == null || !old.ownsStorage || old.offset != 0 || !old.isContiguous() || old.storage == callers) return null;
            return users.get(old.storage) == 1 ? old : null;
        }

        /** g held (read later by a deferred gradient) until {@link #done}: not recycled, not summed into in place. */
        void hold(Tensor g) {
            users.merge(g.storage, 1, Integer::sum);
        }

        /** The waiting gradient of t, now in use until {@link #done}. */
        Tensor take(Tensor t) {
            return byTensor.remove(t);
        }

        /** g is used up; its storage is recycled when no other waiting gradient is on it. */
        void done(Tensor g) {
            int left = users.merge(g.storage, -1, Integer::sum);
            if (left == 0) {
                users.remove(g.storage);
                if (g.storage != callers) g.storage.recycle();
            }
        }

        boolean isWaiting(Storage s) {
            return users.containsKey(s);
        }

        /**
         * Whether gx is a whole buffer nobody else holds: not a view, not a gradient still waiting or
         * in use (the rule's incoming one passed on, the caller's). Rules return a tensor of their own
         * per input, or g itself (add), never one fresh tensor for two inputs.
         */
        boolean isUnshared(Tensor gx) {
            return gx.ownsStorage && !isWaiting(gx.storage);
        }
    }

    /** Without retainGraph: frees the node behind order[i] and drops the list's reference to its output; with recycle, its buffer too. */
    private static void release(List<Tensor> order, int i, boolean retainGraph, boolean recycle, PendingGrads grads) {
        if (retainGraph) return;
        Tensor t = order.get(i);
        if (t.gradFn != null) {
            if (recycle && !t.gradFn.isFreed()) t.gradFn.node().recycleSaved();
            t.gradFn.free();
        }
        order.set(i, null);
        if (recycle && t.ownsStorage && !grads.isWaiting(t.storage)) t.storage.recycle();
    }

    /** The one gradient table: each op's rule, selected by an exhaustive switch. */
    private static Tensor[] inputGrads(Node node, Tensor g) {
        return switch (node) {
            case Node.Binary n -> Elementwise.binaryBackward(n, g);
            case Node.AddRelu n -> Elementwise.addReluBackward(n, g);
            case Node.Unary n -> new Tensor[] {Elementwise.unaryBackward(n, g)};
            case Node.Sum n -> new Tensor[] {ReduceOps.sumBackward(n, g)};
            case Node.Extremum n -> new Tensor[] {ReduceOps.extremumBackward(n, g)};
            case Node.Reshape n -> new Tensor[] {g.reshape(n.x().shape().toArray())};
            case Node.Permute n -> new Tensor[] {ViewOps.permuteBackward(n, g)};
            case Node.Expand n -> new Tensor[] {ReduceOps.sumTo(g, n.x().shape())};
            case Node.Slice n -> new Tensor[] {ViewOps.sliceBackward(n, g)};
            case Node.Concat n -> ViewOps.concatBackward(n, g);
            case Node.Pad n -> new Tensor[] {ViewOps.padBackward(n, g)};
            case Node.MatMul n -> MatMulOp.backward(n, g);
            case Node.Conv2d n -> ConvOps.backward(n, g);
            case Node.Conv2dRelu n -> ConvOps.reluBackward(n, g);
            case Node.Conv2dOfConcat n -> ConcatConvOps.backward(n, g);
            case Node.ConvTranspose2d n -> ConvOps.transposeBackward(n, g);
            case Node.Pool2d n -> new Tensor[] {PoolOps.backward(n, g)};
            case Node.Resize n -> new Tensor[] {ResizeOps.backward(n, g)};
            case Node.BatchNorm n -> NormOps.batchNormBackward(n, g);
            case Node.BatchNormRelu n -> NormOps.batchNormReluBackward(n, g);
            case Node.BatchNormReluPool n -> PooledNormOps.backward(n, g);
            case Node.BatchNormAddRelu n -> ResidualOps.backward(n, g);
            case Node.Cast n -> new Tensor[] {g.to(n.x().dtype())};
        };
    }

    /**
     * The leaf's first gradient is g itself when nobody else holds g's buffer (a rule's fresh
     * result, as a conv's input and weight gradients are): copying it cost ~6% of a depthwise
     * layer's backward. Otherwise a contiguous copy: g may be a view (of another gradient, or a
     * stride-0 expand), the caller's gradient, or still waiting for another node.
     */
    private static void accumulateLeaf(Tensor leaf, Tensor g, boolean unshared) {
        if (leaf.grad != null) leaf.grad = leaf.grad.add(g);
        else leaf.grad = unshared ? g : g.copy();
    }

    /** Tensors with a grad function reachable from root, each after all of its inputs; readers counts each tensor's uses as a recorded op's input. */
    private static List<Tensor> topoOrder(Tensor root, Map<Tensor, Integer> readers) {
        List<Tensor> order = new ArrayList<>();
        Set<Tensor> visited = Collections.newSetFromMap(new IdentityHashMap<>());
        ArrayDeque<Object[]> stack = new ArrayDeque<>();
        if (root.gradFn == null) return order;
        visited.add(root);
        stack.push(new Object[] {root, root.gradFn.node().inputs(), 0});
        while (!stack.isEmpty()) {
            Object[] top = stack.peek();
            @SuppressWarnings("unchecked")
            List<Tensor> inputs = (List<Tensor>) top[1];
            int i = (Integer) top[2];
            if (i < inputs.size()) {
                top[2] = i + 1;
                Tensor x = inputs.get(i);
                readers.merge(x, 1, Integer::sum);
                if (x.gradFn != null && x.requiresGrad() && visited.add(x))
                    stack.push(new Object[] {x, x.gradFn.node().inputs(), 0});
            } else {
                stack.pop();
                order.add((Tensor) top[0]);
            }
        }
        return order;
    }
}
