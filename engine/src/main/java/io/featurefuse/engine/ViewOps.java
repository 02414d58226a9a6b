package io.featurefuse.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Shape ops: views that share storage (reshape, permute, expand, slice) and copies that join or
 * pad (concat, stack, pad), with their backward rules, plus dtype casts.
 */
final class ViewOps {
    private ViewOps() {}

    static Tensor reshape(Tensor x, int[] dims, boolean viewOnly) {
        String op = viewOnly ? "view" : "reshape";
        int[] s = dims.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1) {
                if (infer >= 0) throw new IllegalArgumentException(op + ": only one dim may be -1 in " + Arrays.toString(dims));
                infer = i;
            } else if (s[i] < 0) {
                throw new IllegalArgumentException(op + ": invalid size " + s[i] + " in " + Arrays.toString(dims));
            } else {
                known *= s[i];
            }
        }
        if (infer >= 0) {
            if (known == 0 || x.numel() % known != 0)
                throw new IllegalArgumentException(op + ": shape " + Arrays.toString(dims) + " does not fit " + x.numel()
                        + " elements of a tensor of shape " + x.shape);
            s[infer] = (int) (x.numel() / known);
        } else if (known != x.numel()) {
            throw new IllegalArgumentException(op + ": shape " + Arrays.toString(dims) + " (" + known
                    + " elements) does not fit a tensor of shape " + x.shape + " (" + x.numel() + " elements)");
        }
        Shape target = Shape.of(s);
        if (target.equals(x.shape)) return x;
        Tensor src = x;
        if (!x.isContiguous()) {
            if (viewOnly)
                throw new IllegalArgumentException("view: a tensor of shape " + x.shape + " with strides "
                        + Arrays.toString(x.strides) + " is not contiguous; use reshape, which copies");
            src = x.copy();
        }
        Tensor out = src.view(target, target.contiguousStrides(), src.offset);
        return Tensor.record(out, new Node.Reshape(src));
    }

    static Tensor permute(Tensor x, int[] dims) {
        int rank = x.rank();
        if (dims.length != rank)
            throw new IllegalArgumentException("permute: " + Arrays.toString(dims) + " names " + dims.length
                    + " dims for a tensor of rank " + rank);
        int[] p = new int[rank];
        boolean[] seen = new boolean[rank];
        for (int i = 0; i < rank; i++) {
            p[i] = x.shape.normalizeDim(dims[i], "permute");
            if (seen[p[i]]) throw new IllegalArgumentException("permute: " + Arrays.toString(dims) + " is not a permutation");
            seen[p[i]] = true;
        }
        int[] shape = new int[rank], strides = new int[rank];
        for (int i = 0; i < rank; i++) {
            shape[i] = x.shape.dim(p[i]);
            strides[i] = x.strides[p[i]];
        }
        return Tensor.record(x.view(Shape.of(shape), strides, x.offset), new Node.Permute(x, p));
    }

    static Tensor permuteBackward(Node.Permute n, Tensor g) {
        int[] p = n.dims(), inv = new int[p.length];
        for (int i = 0; i < p.length; i++) inv[p[i]] = i;
        return g.permute(inv);
    }

    static Tensor transpose(Tensor x, int dim0, int dim1) {
        int a = x.shape.normalizeDim(dim0, "transpose"), b = x.shape.normalizeDim(dim1, "transpose");
        int[] p = new int[x.rank()];
        for (int i = 0; i < p.length; i++) p[i] = i;
        if (x.rank() > 0) {
            p[a] = b;
            p[b] = a;
        }
        return permute(x, p);
    }

    static Tensor expand(Tensor x, int[] dims) {
        if (dims.length < x.rank())
            throw new IllegalArgumentException("expand: " + Arrays.toString(dims) + " has fewer dims than shape " + x.shape);
        int lead = dims.length - x.rank();
        int[] shape = new int[dims.length], strides = new int[dims.length];
        for (int i = 0; i < dims.length; i++) {
            int have = i < lead ? 1 : x.shape.dim(i - lead);
            int want = dims[i] == -1 && i >= lead ? have : dims[i];
            if (want < 0 || (have != 1 && want != have))
                throw new IllegalArgumentException("expand: shape " + x.shape + " cannot be expanded to " + Arrays.toString(dims));
            shape[i] = want;
            strides[i] = i < lead || have == 1 ? 0 : x.strides[i - lead];
        }
        Shape s = Shape.of(shape);
        if (s.equals(x.shape)) return x;
        return Tensor.record(x.view(s, strides, x.offset), new Node.Expand(x));
    }

    static Tensor slice(Tensor x, int dim, int start, int end, int step) {
        int d = x.shape.normalizeDim(dim, "slice");
        if (x.rank() == 0) throw new IllegalArgumentException("slice: a scalar has no dims to slice");
        int size = x.shape.dim(d);
        if (step < 1) throw new IllegalArgumentException("slice: step " + step + " must be at least 1");
        if (start < 0 || start > size || end < start || end > size)
            throw new IllegalArgumentException("slice: range [" + start + ", " + end + ") is outside [0, " + size
                    + "] of dim " + d + " of shape " + x.shape);
        int n = (end - start + step - 1) / step;
        int[] shape = x.shape.toArray(), strides = x.strides.clone();
        shape[d] = n;
        strides[d] = x.strides[d] * step;
        int off = x.offset + (n == 0 ? 0 : start * x.strides[d]);
        Shape s = Shape.of(shape);
        if (s.equals(x.shape)) return x;
        return Tensor.record(x.view(s, strides, off), new Node.Slice(x, d, start, step));
    }

    /** Zeros of the input's shape with g written into the sliced positions. */
    static Tensor sliceBackward(Node.Slice n, Tensor g) {
        Tensor out = Tensor.empty(n.x().shape, g.dtype);
        int d = n.dim();
        int[] strides = out.strides.clone();
        strides[d] *= n.step();
        Elementwise.copyInto(out.view(g.shape, strides, n.start() * out.strides[d]), g);
        return out;
    }

    static Tensor unsqueeze(Tensor x, int dim) {
        int d = Shape.normalizeDim(dim, x.rank() + 1, "unsqueeze");
        int[] s = new int[x.rank() + 1];
        for (int i = 0, j = 0; i < s.length; i++) s[i] = i == d ? 1 : x.shape.dim(j++);
        return x.reshape(s);
    }

    static Tensor squeeze(Tensor x, int dim) {
        int d = x.shape.normalizeDim(dim, "squeeze");
        if (x.rank() == 0 || x.shape.dim(d) != 1) return x;
        int[] s = new int[x.rank() - 1];
        for (int i = 0, j = 0; i < x.rank(); i++) if (i != d) s[j++] = x.shape.dim(i);
        return x.reshape(s);
    }

    static Tensor flatten(Tensor x, int startDim, int endDim) {
        if (x.rank() == 0) return x.reshape(1);
        int a = x.shape.normalizeDim(startDim, "flatten"), b = x.shape.normalizeDim(endDim, "flatten");
        if (a > b) throw new IllegalArgumentException("flatten: start dim " + startDim + " comes after end dim " + endDim);
        int[] s = new int[x.rank() - (b - a)];
        int j = 0, merged = 1;
        for (int i = 0; i < x.rank(); i++) {
            if (i < a || i > b) s[j++] = x.shape.dim(i);
            else {
                merged *= x.shape.dim(i);
                if (i == b) s[j++] = merged;
            }
        }
        return x.reshape(s);
    }

    static List<Tensor> split(Tensor x, int size, int dim) {
        int d = x.shape.normalizeDim(dim, "split");
        if (size < 1) throw new IllegalArgumentException("split: size " + size + " must be at least 1");
        int total = x.shape.dim(d);
        List<Tensor> out = new ArrayList<>();
        for (int s = 0; s < total; s += size) out.add(x.narrow(d, s, Math.min(size, total - s)));
        return out;
    }

    static List<Tensor> split(Tensor x, int[] sizes, int dim) {
        int d = x.shape.normalizeDim(dim, "split");
        int sum = 0;
        for (int s : sizes) {
            if (s < 0) throw new IllegalArgumentException("split: negative size in " + Arrays.toString(sizes));
            sum += s;
        }
        if (sum != x.shape.dim(d))
            throw new IllegalArgumentException("split: sizes " + Arrays.toString(sizes) + " add up to " + sum
                    + ", not to dim " + d + " of shape " + x.shape);
        List<Tensor> out = new ArrayList<>();
        int at = 0;
        for (int s : sizes) {
            out.add(x.narrow(d, at, s));
            at += s;
        }
        return out;
    }

    static Tensor concat(List<Tensor> xs, int dim) {
        if (xs.isEmpty()) throw new IllegalArgumentException("concat: needs at least one tensor");
        Tensor first = xs.get(0);
        int d = first.shape.normalizeDim(dim, "concat");
        if (first.rank() == 0) throw new IllegalArgumentException("concat: scalars have no dim to join along; use stack");
        int total = 0;
        for (Tensor x : xs) {
            Elementwise.checkSameDtype("concat", first, x);
            boolean ok = x.rank() == first.rank();
            for (int i = 0; ok && i < x.rank(); i++) ok = i == d || x.shape.dim(i) == first.shape.dim(i);
            if (!ok)
                throw new IllegalArgumentException("concat: shapes " + first.shape + " and " + x.shape + " differ outside dim " + d);
            total += x.shape.dim(d);
        }
        int[] s = first.shape.toArray();
        s[d] = total;
        Tensor out = Tensor.emptyToOverwrite(Shape.of(s), first.dtype);
        int at = 0;
        for (Tensor x : xs) {
            int n = x.shape.dim(d);
            Elementwise.copyInto(out.view(x.shape, out.strides, at * out.strides[d]), x);
            at += n;
        }
        return Tensor.record(out, new Node.Concat(List.copyOf(xs), d));
    }

    static Tensor[] concatBackward(Node.Concat n, Tensor g) {
        Tensor[] out = new Tensor[n.xs().size()];
        int at = 0;
        for (int i = 0; i < out.length; i++) {
            int size = n.xs().get(i).shape.dim(n.dim());
            out[i] = g.narrow(n.dim(), at, size);
            at += size;
        }
        return out;
    }

    static Tensor stack(List<Tensor> xs, int dim) {
        if (xs.isEmpty()) throw new IllegalArgumentException("stack: needs at least one tensor");
        Shape s = xs.get(0).shape;
        int d = Shape.normalizeDim(dim, s.rank() + 1, "stack");
        List<Tensor> parts = new ArrayList<>();
        for (Tensor x : xs) {
            if (!x.shape.equals(s)) throw new IllegalArgumentException("stack: shapes " + s + " and " + x.shape + " differ");
            parts.add(x.unsqueeze(d));
        }
        return concat(parts, d);
    }

    static Tensor pad(Tensor x, double value, int[] pads) {
        if (pads.length % 2 != 0 || pads.length / 2 > x.rank())
            throw new IllegalArgumentException("pad: " + Arrays.toString(pads) + " must hold (before, after) pairs for at most "
                    + x.rank() + " dims");
        int[] before = new int[x.rank()], shape = x.shape.toArray();
        for (int i = 0; i < pads.length / 2; i++) {
            int d = x.rank() - 1 - i;
            if (pads[2 * i] < 0 || pads[2 * i + 1] < 0)
                throw new IllegalArgumentException("pad: negative padding in " + Arrays.toString(pads) + " (use narrow to crop)");
            before[d] = pads[2 * i];
            shape[d] += pads[2 * i] + pads[2 * i + 1];
        }
        Tensor out = Tensor.full(Shape.of(shape), x.dtype, value);
        int off = 0;
        for (int d = 0; d < before.length; d++) off += before[d] * out.strides[d];
        Elementwise.copyInto(out.view(x.shape, out.strides, off), x);
        return Tensor.record(out, new Node.Pad(x, before));
    }

    static Tensor padBackward(Node.Pad n, Tensor g) {
        Tensor r = g;
        for (int d = 0; d < n.before().length; d++) r = r.narrow(d, n.before()[d], n.x().shape.dim(d));
        return r;
    }

    static Tensor cast(Tensor x, DType target) {
        if (x.dtype == target) return x;
        Tensor src = x.dense();
        Tensor out = Tensor.emptyToOverwrite(x.shape, target);
        int n = x.numel();
        if (target == DType.F64) for (int i = 0; i < n; i++) out.d()[i] = src.f()[src.offset + i];
        else for (int i = 0; i < n; i++) out.f()[i] = (float) src.d()[src.offset + i];
        return Tensor.record(out, new Node.Cast(x));
    }

}
