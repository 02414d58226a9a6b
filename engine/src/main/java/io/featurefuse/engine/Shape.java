package io.featurefuse.engine;

import java.util.Arrays;

/**
 * An immutable tensor shape, e.g. [N, C, H, W]. Rank 0 is a scalar. Holds the shape algebra that
 * every op shares: element counts, row-major strides, dim normalisation and broadcasting, each
 * failing with a message that names the op and the shapes.
 */
public final class Shape {
    private final int[] dims;

    private Shape(int[] dims) {
        this.dims = dims;
    }

    /** A shape from its dims; each must be &gt;= 0 and the element count must fit an array. */
    public static Shape of(int... dims) {
        long n = 1;
        for (int d : dims) {
            if (d < 0) throw new IllegalArgumentException("shape " + Arrays.toString(dims) + " has a negative size");
            n *= d;
            if (n > Integer.MAX_VALUE - 16)
                throw new IllegalArgumentException("shape " + Arrays.toString(dims) + " has more than 2^31 elements");
        }
        return new Shape(dims.clone());
    }

    public int rank() {
        return dims.length;
    }

    public int dim(int i) {
        return dims[i];
    }

    /** A copy of the dims. */
    public int[] toArray() {
        return dims.clone();
    }

    public int numel() {
        int n = 1;
        for (int d : dims) n *= d;
        return n;
    }

    /** Row-major (contiguous) strides of this shape. */
    public int[] contiguousStrides() {
        int[] s = new int[dims.length];
        int acc = 1;
        for (int i = dims.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= dims[i];
        }
        return s;
    }

    /** Maps a possibly negative dim (-1 = last) to [0, rank), or fails naming the op. */
    public int normalizeDim(int dim, String op) {
        return normalizeDim(dim, dims.length, op);
    }

    static int normalizeDim(int dim, int rank, String op) {
        int r = Math.max(rank, 1);
        if (dim < -r || dim >= r)
            throw new IllegalArgumentException(op + ": dim " + dim + " is out of range for a tensor of rank " + rank
                    + " (valid: " + (-r) + ".." + (r - 1) + ")");
        return dim < 0 ? dim + r : dim;
    }

    /** The broadcast of two shapes by NumPy rules, or an error naming the op and both shapes. */
    public static Shape broadcast(Shape a, Shape b, String op) {
        int rank = Math.max(a.rank(), b.rank());
        int[] out = new int[rank];
        for (int i = 0; i < rank; i++) {
            int da = i < rank - a.rank() ? 1 : a.dims[i - (rank - a.rank())];
            int db = i < rank - b.rank() ? 1 : b.dims[i - (rank - b.rank())];
            if (da != db && da != 1 && db != 1)
                throw new IllegalArgumentException(op + ": shapes " + a + " and " + b + " do not broadcast");
            out[i] = da == 1 ? db : da;
        }
        return new Shape(out);
    }

    /**
     * Strides for reading a tensor of this shape with {@code strides} as if it had the (broadcast)
     * shape {@code target}: 0 along dims this shape lacks or has size 1.
     */
    int[] broadcastStrides(int[] strides, Shape target) {
        int[] s = new int[target.rank()];
        int shift = target.rank() - dims.length;
        for (int i = 0; i < dims.length; i++) s[i + shift] = dims[i] == 1 ? 0 : strides[i];
        return s;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Shape s && Arrays.equals(dims, s.dims);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    /** e.g. "[2, 3]"; a scalar is "[]". */
    @Override
    public String toString() {
        return Arrays.toString(dims);
    }
}
