package io.featurefuse.engine;

import io.featurefuse.engine.cpu.Gemm;
import io.featurefuse.engine.cpu.ScalarKernels;

/**
 * Matrix products with broadcast batch dims, and linear layers, on {@link Gemm} (float32) or
 * the reference {@link ScalarKernels#dgemm} (float64). Transposed views are passed to the GEMM
 * as transpose flags, so x @ w^T and the backward products need no copies.
 */
final class MatMulOp {
    private MatMulOp() {}

    static Tensor matmul(Tensor a, Tensor b) {
        Elementwise.checkSameDtype("matmul", a, b);
        if (a.rank() == 0 || b.rank() == 0)
            throw new IllegalArgumentException("matmul: shapes " + a.shape + " and " + b.shape + ": both need at least 1 dim");
        if (a.rank() == 1 || b.rank() == 1) {
            // A vector is a 1-row (left) or 1-column (right) matrix whose extra dim is dropped again.
            boolean va = a.rank() == 1, vb = b.rank() == 1;
            Tensor out = matmul(va ? a.unsqueeze(0) : a, vb ? b.unsqueeze(1) : b);
            if (vb) out = out.squeeze(-1);
            return va ? out.squeeze(vb ? -1 : -2) : out;
        }
        int m = a.shape.dim(a.rank() - 2), k = a.shape.dim(a.rank() - 1);
        int k2 = b.shape.dim(b.rank() - 2), n = b.shape.dim(b.rank() - 1);
        if (k != k2)
            throw new IllegalArgumentException("matmul: shapes " + a.shape + " and " + b.shape + " cannot be multiplied ("
                    + k + " columns vs " + k2 + " rows)");
        Shape batchA = Shape.of(java.util.Arrays.copyOf(a.shape.toArray(), a.rank() - 2));
        Shape batchB = Shape.of(java.util.Arrays.copyOf(b.shape.toArray(), b.rank() - 2));
        Shape batch = Shape.broadcast(batchA, batchB, "matmul");
        int[] outDims = java.util.Arrays.copyOf(batch.toArray(), batch.rank() + 2);
        outDims[batch.rank()] = m;
        outDims[batch.rank() + 1] = n;
        Tensor out = Tensor.emptyToOverwrite(Shape.of(outDims), a.dtype);
        Operand pa = Operand.of(a, batch), pb = Operand.of(b, batch);
        int count = batch.numel();
        if (a.dtype == DType.F32)
            Gemm.sgemm(count, m, n, k, pa.t.f(), pa.offset, pa.batchStride, pa.trans, pa.ld,
                    pb.t.f(), pb.offset, pb.batchStride, pb.trans, pb.ld, out.f(), 0, m * n, n);
        else
            ScalarKernels.dgemm(count, m, n, k, pa.t.d(), pa.offset, pa.batchStride, pa.trans, pa.ld,
                    pb.t.d(), pb.offset, pb.batchStride, pb.trans, pb.ld, out.d(), 0, m * n, n);
        return Tensor.record(out, new Node.MatMul(a, b));
    }

    static Tensor[] backward(Node.MatMul node, Tensor g) {
        Tensor a = node.a(), b = node.b();
        Tensor ga = a.requiresGrad() ? ReduceOps.sumTo(g.matmul(b.transpose(-1, -2)), a.shape) : null;
        Tensor gb = b.requiresGrad() ? ReduceOps.sumTo(a.transpose(-1, -2).matmul(g), b.shape) : null;
        return new Tensor[] {ga, gb};
    }

    static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        if (weight.rank() != 2)
            throw new IllegalArgumentException("linear: weight must be [out, in], not " + weight.shape);
        if (x.rank() == 0 || x.shape.dim(x.rank() - 1) != weight.shape.dim(1))
            throw new IllegalArgumentException("linear: input " + x.shape + " does not end in the weight's " + weight.shape.dim(1)
                    + " input features (weight " + weight.shape + ")");
        Tensor y = x.matmul(weight.transpose(0, 1));
        if (bias == null) return y;
        if (bias.rank() != 1 || bias.shape.dim(0) != weight.shape.dim(0))
            throw new IllegalArgumentException("linear: bias " + bias.shape + " does not match " + weight.shape.dim(0) + " outputs");
        return y.add(bias);
    }

    /**
     * A GEMM operand: storage, offset, one batch stride, and whether the matrix is stored
     * transposed. Views whose matrix or batch layout the GEMM cannot walk are copied first.
     */
    private record Operand(Tensor t, int offset, int batchStride, boolean trans, int ld) {
        static Operand of(Tensor x, Shape batch) {
            int r = x.rank();
            int rows = x.shape.dim(r - 2), cols = x.shape.dim(r - 1);
            int rs = x.strides[r - 2], cs = x.strides[r - 1];
            boolean plain = cs == 1 || cols == 1, trans = !plain && (rs == 1 || rows == 1);
            int bs = batchStride(x, batch);
            if ((!plain && !trans) || bs < 0) {
                Tensor c;
                try (var off = GradMode.off()) {
                    int[] dims = java.util.Arrays.copyOf(batch.toArray(), batch.rank() + 2);
                    dims[batch.rank()] = rows;
                    dims[batch.rank() + 1] = cols;
                    c = x.expand(dims).copy();
                }
                return new Operand(c, 0, rows * cols, false, Math.max(1, cols));
            }
            int ld = plain ? (rows == 1 ? Math.max(1, cols) : rs) : (cols == 1 ? Math.max(1, rows) : cs);
            return new Operand(x, x.offset, bs, trans, ld);
        }

        /** One stride that walks x's batch dims broadcast to batch, or -1 when there is none. */
        private static int batchStride(Tensor x, Shape batch) {
            int lead = batch.rank() - (x.rank() - 2);
            int stride = -1;
            long span = 1; // elements of the batch dims after the current one
            for (int i = batch.rank() - 1; i >= 0; i--) {
                int size = batch.dim(i);
                if (size == 1) continue;
                int xi = i - lead;
                int s = xi < 0 || x.shape.dim(xi) == 1 ? 0 : x.strides[xi];
                if (stride == -1) stride = s;
                else if (s != (long) stride * span) return -1;
                span *= size;
            }
            return stride == -1 ? 0 : stride;
        }
    }
}
