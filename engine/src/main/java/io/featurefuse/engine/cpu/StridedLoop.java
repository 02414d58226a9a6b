package io.featurefuse.engine.cpu;

/**
 * Walks N operands (output first) over one iteration shape, each with its own strides (0 where an
 * operand is broadcast), and hands out contiguous-in-index "runs" along the innermost dimension.
 * Adjacent dimensions that are contiguous for every operand are merged first, so a plain
 * same-shape op becomes one long run and a per-channel broadcast over NCHW becomes runs of H*W.
 * Large loops are split over the pool: by rows of runs, or, when there are few rows, by pieces
 * of each run. Every element is written by exactly one task.
 */
public final class StridedLoop {
    /** Below this many elements a loop runs on the calling thread. */
    static final int PARALLEL_MIN = 1 << 15;

    /** One run: operand k starts at {@code offsets[k]} and steps by {@code strides[k]}, n times. */
    @FunctionalInterface
    public interface Body {
        void run(int[] offsets, int[] strides, int n);
    }

    private StridedLoop() {}

    public static void forEach(int[] shape, int[][] strides, int[] base, Body body) {
        int ops = strides.length;
        long total = 1;
        for (int s : shape) total *= s;
        if (total == 0) return;
        // Collapse: drop size-1 dims, merge d into d+1 when contiguous for every operand.
        int[] dims = new int[shape.length];
        int[][] st = new int[ops][shape.length];
        int rank = 0;
        for (int d = 0; d < shape.length; d++) {
            if (shape[d] == 1) continue;
            dims[rank] = shape[d];
            for (int k = 0; k < ops; k++) st[k][rank] = strides[k][d];
            rank++;
        }
        int r = 0;
        for (int d = 1; d < rank; d++) {
            boolean merge = true;
            for (int k = 0; k < ops && merge; k++) merge = st[k][r] == st[k][d] * dims[d];
            if (merge) {
                dims[r] *= dims[d];
                for (int k = 0; k < ops; k++) st[k][r] = st[k][d];
            } else {
                r++;
                dims[r] = dims[d];
                for (int k = 0; k < ops; k++) st[k][r] = st[k][d];
            }
        }
        rank = rank == 0 ? 0 : r + 1;
        final int n = rank == 0 ? 1 : dims[rank - 1];
        final int outerRank = Math.max(0, rank - 1);
        final int[] inner = new int[ops];
        for (int k = 0; k < ops; k++) inner[k] = rank == 0 ? 1 : st[k][rank - 1];
        final long rows = total / n;
        final int[] odims = java.util.Arrays.copyOf(dims, outerRank);
        final int[][] ost = new int[ops][];
        for (int k = 0; k < ops; k++) ost[k] = java.util.Arrays.copyOf(st[k], outerRank);

        int threads = Parallel.threads();
        if (total < PARALLEL_MIN || threads == 1) {
            runRows(0, rows, n, 0, n, odims, ost, base, inner, body);
            return;
        }
        int target = 4 * threads;
        if (rows >= target) {
            long per = (rows + target - 1) / target;
            int tasks = (int) ((rows + per - 1) / per);
            Parallel.forEach(tasks, t -> runRows(t * per, Math.min(rows, (t + 1) * per), n, 0, n, odims, ost, base, inner, body));
        } else {
            int pieces = (int) ((target + rows - 1) / rows);
            int chunk = Math.max(64, ((n + pieces - 1) / pieces + 63) & ~63);
            int perRow = (n + chunk - 1) / chunk;
            Parallel.forEach((int) (rows * perRow), t -> {
                long row = t / perRow;
                int from = (t % perRow) * chunk;
                runRows(row, row + 1, n, from, Math.min(n, from + chunk), odims, ost, base, inner, body);
            });
        }
    }

    /** Rows [r0, r1) of the outer odometer, each run limited to inner positions [from, to). */
    private static void runRows(long r0, long r1, int n, int from, int to, int[] odims, int[][] ost,
                                int[] base, int[] inner, Body body) {
        int ops = base.length, rank = odims.length;
        int[] idx = new int[rank];
        int[] off = new int[ops];
        long rem = r0;
        for (int d = rank - 1; d >= 0; d--) {
            idx[d] = (int) (rem % odims[d]);
            rem /= odims[d];
        }
        for (int k = 0; k < ops; k++) {
            long o = base[k];
            for (int d = 0; d < rank; d++) o += (long) idx[d] * ost[k][d];
            off[k] = (int) o;
        }
        int[] start = new int[ops];
        for (long row = r0; row < r1; row++) {
            for (int k = 0; k < ops; k++) start[k] = off[k] + from * inner[k];
            body.run(start, inner, to - from);
            // advance the odometer
            for (int d = rank - 1; d >= 0; d--) {
                idx[d]++;
                for (int k = 0; k < ops; k++) off[k] += ost[k][d];
                if (idx[d] < odims[d]) break;
                for (int k = 0; k < ops; k++) off[k] -= ost[k][d] * odims[d];
                idx[d] = 0;
            }
        }
    }
}
