package io.featurefuse.engine;

import io.featurefuse.engine.cpu.BinaryOp;
import io.featurefuse.engine.cpu.Reductions;
import io.featurefuse.engine.cpu.ScalarKernels;

/**
 * Reductions over any set of dims (sum, mean, var, max, min, argmax) and the softmax family,
 * with their backward rules. Mean, var and softmax are compositions of primitive ops, so their
 * gradients come from the primitives'.
 */
final class ReduceOps {
    private ReduceOps() {}

    /** Flags for the dims to reduce; none given means all. Duplicates are an error. */
    static boolean[] reduceFlags(Shape s, String op, int... dims) {
        boolean[] r = new boolean[s.rank()];
        if (dims.length == 0) {
            java.util.Arrays.fill(r, true);
            return r;
        }
        for (int dim : dims) {
            int d = s.normalizeDim(dim, op);
            if (s.rank() == 0) continue; // dim 0 / -1 of a scalar: nothing to reduce
            if (r[d]) throw new IllegalArgumentException(op + ": dim " + dim + " appears twice in " + java.util.Arrays.toString(dims));
            r[d] = true;
        }
        return r;
    }

    private static Shape keepShape(Shape s, boolean[] r) {
        int[] k = s.toArray();
        for (int i = 0; i < k.length; i++) if (r[i]) k[i] = 1;
        return Shape.of(k);
    }

    private static int[] droppedDims(Shape s, boolean[] r) {
        int n = 0;
        for (boolean b : r) if (!b) n++;
        int[] out = new int[n];
        for (int i = 0, j = 0; i < r.length; i++) if (!r[i]) out[j++] = s.dim(i);
        return out;
    }

    private static int count(Shape s, boolean[] r) {
        int c = 1;
        for (int i = 0; i < r.length; i++) if (r[i]) c *= s.dim(i);
        return c;
    }

    /** The reduction kernel on dense data; result in keepdim shape. */
    private static Tensor reduceKeep(Reductions.Kind kind, Tensor x, boolean[] r) {
        Tensor xd = x.dense();
        Shape ks = keepShape(x.shape, r);
        Tensor out = Tensor.empty(ks, x.dtype);
        if (x.dtype == DType.F32) {
            Reductions.reduce(kind, xd.f(), xd.offset, x.shape.toArray(), r, out.f());
        } else {
            java.util.Arrays.fill(out.d(), kind.identity());
            ScalarKernels.reduce(kind, xd.d(), xd.offset, x.shape.toArray(), r, out.d());
        }
        return out;
    }

    static Tensor sum(Tensor x, boolean keepdim, boolean mean, int... dims) {
        String op = mean ? "mean" : "sum";
        boolean[] r = reduceFlags(x.shape, op, dims);
        Tensor kept = Tensor.record(reduceKeep(Reductions.Kind.SUM, x, r), new Node.Sum(x, keepShape(x.shape, r)));
        Tensor out = keepdim ? kept : kept.reshape(droppedDims(x.shape, r));
        return mean ? out.mul(1.0 / count(x.shape, r)) : out;
    }

    static Tensor sumBackward(Node.Sum n, Tensor g) {
        return g.reshape(n.keepShape().toArray()).expand(n.x().shape.toArray());
    }

    /** g summed down to shape, undoing broadcasting (leading dims, and dims of size 1 in shape). */
    static Tensor sumTo(Tensor g, Shape shape) {
        if (g.shape.equals(shape)) return g;
        int lead = g.rank() - shape.rank();
        java.util.List<Integer> dims = new java.util.ArrayList<>();
        for (int i = 0; i < g.rank(); i++)
            if (i < lead || (shape.dim(i - lead) == 1 && g.shape.dim(i) != 1)) dims.add(i);
        Tensor s = dims.isEmpty() ? g : g.sum(true, dims.stream().mapToInt(Integer::intValue).toArray());
        return s.reshape(shape.toArray());
    }

    static Tensor var(Tensor x, int correction, boolean keepdim, int... dims) {
        boolean[] r = reduceFlags(x.shape, "var", dims);
        int[] rd = java.util.stream.IntStream.range(0, r.length).filter(i -> r[i]).toArray();
        Tensor dev = x.sub(x.mean(true, rd));
        return dev.mul(dev).sum(keepdim, rd).div(count(x.shape, r) - correction);
    }

    static Tensor extremum(Tensor x, boolean max, boolean keepdim, int... dims) {
        String op = max ? "max" : "min";
        boolean[] r = reduceFlags(x.shape, op, dims);
        for (int i = 0; i < r.length; i++)
            if (r[i] && x.shape.dim(i) == 0) throw new IllegalArgumentException(op + ": cannot reduce over dim " + i + " of size 0");
        Tensor keep = reduceKeep(max ? Reductions.Kind.MAX : Reductions.Kind.MIN, x, r);
        Tensor kept = Tensor.record(keep, new Node.Extremum(x, keep, max));
        return keepdim ? kept : kept.reshape(droppedDims(x.shape, r));
    }

    /** The gradient goes to the positions equal to the result, shared equally among ties. */
    static Tensor extremumBackward(Node.Extremum n, Tensor g) {
        Tensor x = n.x(), keep = n.outKeep();
        java.util.List<Integer> dims = new java.util.ArrayList<>();
        for (int i = 0; i < x.rank(); i++) if (keep.shape.dim(i) == 1 && x.shape.dim(i) != 1) dims.add(i);
        Tensor mask = Elementwise.binary(BinaryOp.EQ_MASK, x, keep);
        Tensor count = dims.isEmpty() ? Tensor.full(Shape.of(), x.dtype, 1)
                : mask.sum(true, dims.stream().mapToInt(Integer::intValue).toArray());
        return mask.mul(g.div(count));
    }

    static Indices argmax(Tensor x, int dim, boolean keepdim) {
        int d = x.shape.normalizeDim(dim, "argmax");
        if (x.rank() == 0) return new Indices(Shape.of(), new int[] {0});
        int len = x.shape.dim(d);
        if (len == 0) throw new IllegalArgumentException("argmax: cannot reduce over dim " + d + " of size 0");
        int outer = 1, inner = 1;
        for (int i = 0; i < d; i++) outer *= x.shape.dim(i);
        for (int i = d + 1; i < x.rank(); i++) inner *= x.shape.dim(i);
        double[] v = x.toArray();
        int[] out = new int[outer * inner];
        for (int o = 0; o < outer; o++) {
            for (int in = 0; in < inner; in++) {
                int best = 0;
                double bv = v[o * len * inner + in];
                for (int l = 1; l < len && !Double.isNaN(bv); l++) {
                    double c = v[(o * len + l) * inner + in];
                    if (c > bv || Double.isNaN(c)) { bv = c; best = l; }
                }
                out[o * inner + in] = best;
            }
        }
        int[] s = x.shape.toArray();
        if (keepdim) s[d] = 1;
        else s = java.util.stream.IntStream.range(0, s.length).filter(i -> i != d).map(i -> x.shape.dim(i)).toArray();
        return new Indices(Shape.of(s), out);
    }

    /** exp(x - max) / sum, with the max detached: it only keeps exp in range. */
    static Tensor softmax(Tensor x, int dim) {
        int d = x.shape.normalizeDim(dim, "softmax");
        Tensor z = x.sub(x.detach().max(true, d));
        Tensor e = z.exp();
        return e.div(e.sum(true, d));
    }

    static Tensor logSoftmax(Tensor x, int dim) {
        int d = x.shape.normalizeDim(dim, "logSoftmax");
        Tensor z = x.sub(x.detach().max(true, d));
        return z.sub(z.exp().sum(true, d).log());
    }
}
