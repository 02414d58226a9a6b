package io.featurefuse.engine;

import io.featurefuse.engine.cpu.BinaryOp;
import io.featurefuse.engine.cpu.ScalarKernels;
import io.featurefuse.engine.cpu.SimdKernels;
import io.featurefuse.engine.cpu.StridedLoop;
import io.featurefuse.engine.cpu.UnaryOp;

/**
 * Element-wise ops: forward (broadcasting, reading views in place) and the backward rules, side
 * by side. float32 runs {@link SimdKernels}, float64 the reference {@link ScalarKernels}.
 */
final class Elementwise {
    private Elementwise() {}

    static void checkSameDtype(String op, Tensor a, Tensor b) {
        if (a.dtype != b.dtype)
            throw new IllegalArgumentException(op + ": dtypes " + a.dtype + " and " + b.dtype
                    + " differ; convert one with to(DType." + a.dtype.name() + ")");
    }

    // ---- binary --------------------------------------------------------------------------

    static Tensor binary(BinaryOp op, Tensor a, Tensor b) {
        checkSameDtype(op.opName, a, b);
        Shape s = Shape.broadcast(a.shape, b.shape, op.opName);
        Tensor out = Tensor.emptyToOverwrite(s, a.dtype);
        int[][] strides = {s.contiguousStrides(), a.shape.broadcastStrides(a.strides, s), b.shape.broadcastStrides(b.strides, s)};
        int[] base = {0, a.offset, b.offset};
        if (a.dtype == DType.F32)
            StridedLoop.forEach(s.toArray(), strides, base, (o, st, n) ->
                    SimdKernels.binary(op, a.f(), o[1], st[1], b.f(), o[2], st[2], out.f(), o[0], n));
        else
            StridedLoop.forEach(s.toArray(), strides, base, (o, st, n) ->
                    ScalarKernels.binary(op, a.d(), o[1], st[1], b.d(), o[2], st[2], out.d(), o[0], n));
        // Masks are gradient helpers: like comparisons, they carry no gradient.
        if (op == BinaryOp.MAX_MASK || op == BinaryOp.EQ_MASK || op == BinaryOp.RELU_GRAD) return out;
        if (op == BinaryOp.ADD_RELU) return Tensor.record(out, new Node.AddRelu(a, b, out));
        return Tensor.record(out, new Node.Binary(op, a, b));
    }

    static Tensor[] binaryBackward(Node.Binary n, Tensor g) {
        Tensor a = n.a(), b = n.b();
        boolean needA = a.requiresGrad(), needB = b.requiresGrad();
        Tensor ga = null, gb = null;
        switch (n.op()) {
            case ADD -> { ga = g; gb = g; }
            case SUB -> { ga = g; gb = needB ? g.neg() : null; }
            case MUL -> { ga = needA ? g.mul(b) : null; gb = needB ? g.mul(a) : null; }
            case DIV -> {
                ga = needA ? g.div(b) : null;
                gb = needB ? g.mul(a).div(b.mul(b)).neg() : null;
            }
            case POW -> {
                ga = needA ? g.mul(b).mul(a.pow(b.sub(1))) : null;
                if (needB) {
                    // d/db a^b = a^b log a; where a == 0 the limit is 0 (PyTorch's rule), so
                    // log is taken of 1 there instead of producing 0 * -inf = NaN.
                    Tensor safeA = a.add(binary(BinaryOp.EQ_MASK, a, Tensor.full(Shape.of(), a.dtype, 0)));
                    gb = g.mul(binary(BinaryOp.POW, a, b)).mul(safeA.log());
                }
            }
            case MAX, MIN -> {
                // Ties split the gradient in half, as torch.maximum / torch.minimum.
                Tensor m = n.op() == BinaryOp.MAX ? binary(BinaryOp.MAX_MASK, a, b) : binary(BinaryOp.MAX_MASK, b, a);
                ga = needA ? g.mul(m) : null;
                gb = needB ? g.mul(m.rsub(1)) : null;
            }
            case MAX_MASK, EQ_MASK, RELU_GRAD, ADD_RELU -> throw new IllegalStateException(n.op().opName + " is not recorded as a Binary node");
        }
        return new Tensor[] {
                needA && ga != null ? ReduceOps.sumTo(ga, a.shape) : null,
                needB && gb != null ? ReduceOps.sumTo(gb, b.shape) : null};
    }

    /** relu(a + b): the gradient where the output is positive (ReLU's one-pass rule on the saved output), to both inputs. */
    static Tensor[] addReluBackward(Node.AddRelu n, Tensor g) {
        Tensor a = n.a(), b = n.b(), masked = binary(BinaryOp.RELU_GRAD, g, n.out());
        return new Tensor[] {
                a.requiresGrad() ? ReduceOps.sumTo(masked, a.shape) : null,
                b.requiresGrad() ? ReduceOps.sumTo(masked, b.shape) : null};
    }

    // ---- unary ---------------------------------------------------------------------------

    static Tensor unary(UnaryOp op, Tensor x, double p, double q) {
        Tensor out = Tensor.emptyToOverwrite(x.shape, x.dtype);
        int[][] strides = {x.shape.contiguousStrides(), x.strides};
        int[] base = {0, x.offset};
        if (x.dtype == DType.F32)
            StridedLoop.forEach(x.shape.toArray(), strides, base, (o, st, n) ->
                    SimdKernels.unary(op, x.f(), o[1], st[1], out.f(), o[0], st[0], n, p, q));
        else
            StridedLoop.forEach(x.shape.toArray(), strides, base, (o, st, n) ->
                    ScalarKernels.unary(op, x.d(), o[1], st[1], out.d(), o[0], st[0], n, p, q));
        return switch (op) {
            // Local derivatives and sign are piecewise constant: no gradient, like comparisons.
            case SIGN, RELU_MASK, LEAKY_MASK, CLAMP_MASK, GELU_DERIV, SILU_DERIV -> out;
            default -> Tensor.record(out, new Node.Unary(op, x, out, p, q));
        };
    }

    /** Writes src into dst, a (possibly strided) view of a fresh tensor; not recorded. */
    static void copyInto(Tensor dst, Tensor src) {
        int[][] strides = {dst.strides, src.shape.broadcastStrides(src.strides, dst.shape)};
        int[] base = {dst.offset, src.offset};
        if (dst.dtype == DType.F32)
            StridedLoop.forEach(dst.shape.toArray(), strides, base, (o, st, n) ->
                    SimdKernels.unary(UnaryOp.COPY, src.f(), o[1], st[1], dst.f(), o[0], st[0], n, 0, 0));
        else
            StridedLoop.forEach(dst.shape.toArray(), strides, base, (o, st, n) ->
                    ScalarKernels.unary(UnaryOp.COPY, src.d(), o[1], st[1], dst.d(), o[0], st[0], n, 0, 0));
    }

    /** dst = a dst + b src, src broadcast to dst's shape (checked by the caller). */
    static void scaleAndAddInto(Tensor dst, double a, Tensor src, double b) {
        int[][] strides = {dst.strides, src.shape.broadcastStrides(src.strides, dst.shape)};
        int[] base = {dst.offset, src.offset};
        if (dst.dtype == DType.F32)
            StridedLoop.forEach(dst.shape.toArray(), strides, base, (o, st, n) ->
                    SimdKernels.scaleAndAdd((float) a, dst.f(), o[0], st[0], (float) b, src.f(), o[1], st[1], n));
        else
            StridedLoop.forEach(dst.shape.toArray(), strides, base, (o, st, n) ->
                    ScalarKernels.scaleAndAdd(a, dst.d(), o[0], st[0], b, src.d(), o[1], st[1], n));
    }

    static Tensor unaryBackward(Node.Unary n, Tensor g) {
        Tensor x = n.x(), y = n.out();
        double p = n.p();
        return switch (n.op()) {
            case COPY -> g;
            case NEG -> g.neg();
            case ABS -> g.mul(x.sign());
            case EXP -> g.mul(y);
            case LOG -> g.div(x);
            case SQRT -> g.div(y.mul(2));
            case RELU -> binary(BinaryOp.RELU_GRAD, g, x); // one pass instead of a mask and a product
            case SIGMOID -> g.mul(y.mul(y.rsub(1)));
            case TANH -> g.mul(y.mul(y).rsub(1));
            case GELU -> g.mul(unary(UnaryOp.GELU_DERIV, x, 0, 0));
            case SILU -> g.mul(unary(UnaryOp.SILU_DERIV, x, 0, 0));
            case LEAKY_RELU -> g.mul(unary(UnaryOp.LEAKY_MASK, x, p, 0));
            case CLAMP -> g.mul(unary(UnaryOp.CLAMP_MASK, x, p, n.q()));
            case POW_SCALAR -> p == 0 ? g.mul(0) : g.mul(x.pow(p - 1).mul(p));
            case SIGN, RELU_MASK, LEAKY_MASK, CLAMP_MASK, GELU_DERIV, SILU_DERIV ->
                    throw new IllegalStateException(n.op().opName + " is not recorded");
        };
    }
}
