package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.DepthwiseKernels.bc;
import static io.featurefuse.engine.cpu.DepthwiseKernels.ld;
import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Depthwise stride-1 convs whose output is as wide as the input (2 pw = dw (s - 1): "same"
 * padding along x, as in the 3x3 pad-1 layers of mobile backbones), each plane computed as one
 * flat row. With the row stride w on both sides, output q = y w + x reads input
 * q + (i dh - ph) w + j dw - pw for tap (i, j): one constant shift per tap over the whole plane.
 * A 14x14 plane is then one loop of 25 vectors, after one copy (by rows it was 14 rows of 2
 * vectors, 1 lane in 8 wasted, after 14 row copies into a padded plane). 64 channels of 14x14,
 * batch 128, 2 threads, GFLOP/s by rows -> flat: forward 10 -> 30-43, input gradient 9 -> 30-40,
 * weight gradient 6-7 -> 19-25.
 * The plane sits between zeros in a scratch buffer, which stand for the rows above and below;
 * a tap column that reaches across a row's edge reads the neighbouring row there instead of the
 * padding, so that column's partial sum is cleared in those lanes (a blend with 0, not a
 * multiply by 0: an infinity next door would turn 0 * inf into NaN).
 *
 * <p>Which lanes those are comes from a vector of the lanes' columns (x = q mod w) kept in a
 * register and stepped by L mod w each vector, compared with the tap's reach: no memory read.
 * Loaded from a mask array per tap column instead (two loads a vector for 3x3), the loop ran at
 * half the speed: the 3x3 loop alone over an L1-resident 14x14 plane took 6.3-7.5 ns a vector
 * with loaded masks, 3.3-3.5 with these, 3.1-3.3 with no masking at all. The layer below, 2
 * threads, fuse bench, jars alternating 3 times, best GFLOP/s: forward 71-82 -> 75-88,
 * forward+backward 45-49 -> 51-55 (ahead in every pair).
 *
 * <p>Measured before that change (same layer, forward, one thread, best per call): 0.58 ms;
 * with the arithmetic left out 0.115 ms, with the plane copies left out 0.445: the arithmetic
 * is the cost, not memory (a plain copy of the 6.4 MB input takes ~0.12 ms). Tried then on 2
 * threads and not kept: rows padded to a whole vector with zero columns (no masks) ran slower,
 * best 0.41 ms against 0.37 in the same run; copying the next plane into a second buffer before
 * computing this one measured even.
 */
final class DepthwiseSameWidth {
    private DepthwiseSameWidth() {}

    private static final VectorSpecies<Integer> I = F.vectorShape().withLanes(int.class);
    /** 0, 1, ..., L - 1: lane indices, for the lanes of a plane's last vector that lie past it. */
    private static final int[] LANES = java.util.stream.IntStream.range(0, L).toArray();

    static boolean applies(ConvGeom g) {
        return g.sh() == 1 && g.sw() == 1 && g.ow() == g.w() && DepthwiseKernels.applies(g);
    }

    /**
     * The flat view of one call: the plane is copied to top = ph w + pw in a buffer of length
     * floats, so tap (i, j) of output q is at q + i dh w + j dw. Planes are computed in whole
     * vectors, span = oh ow rounded up. Rows are width w; firstColumns holds the columns of the
     * first vector's lanes (i mod w), and each later vector's are L mod w further on (see nextColumns).
     */
    private record Flat(int top, int length, int rowStep, int colStep, int span, int width, int[] firstColumns) {
        static Flat of(ConvGeom g) {
            int w = g.w(), ohw = g.ohw(), span = (ohw + L - 1) / L * L;
            int[] firstColumns = new int[L];
            for (int i = 0; i < L; i++) firstColumns[i] = i % w;
            int top = g.ph() * w + g.pw();
            int length = Math.max(top + g.h() * w, span + (g.r() - 1) * g.dh() * w + (g.s() - 1) * g.dw());
            return new Flat(top, length, g.dh() * w, g.dw(), span, w, firstColumns);
        }

        IntVector firstColumnVector() {
            return IntVector.fromArray(I, firstColumns, 0);
        }

        /** What nextColumns adds each vector: L mod w in every lane. */
        IntVector columnStep() {
            return IntVector.broadcast(I, L % width);
        }

        /** This thread's scratch buffer, zeroed once per task: planes only ever overwrite [top, top + h w). */
        float[] zeroedScratch() {
            return DepthwiseKernels.zeroedScratch(length);
        }
    }

    /**
     * v with the lanes cleared whose column (col) is below lo: their tap, lo columns to the left,
     * lies before the row. (Two helpers, not one taking the tap's offset: each stays under 35
     * bytes of bytecode, so C2 inlines it at any call, and no vector crosses a call; see
     * KernelInliningTest.)
     */
    private static FloatVector clearBelow(FloatVector v, IntVector col, int lo) {
        return v.reinterpretAsInts().blend(0, col.compare(VectorOperators.LT, lo)).reinterpretAsFloats();
    }

    /** v with the lanes cleared whose column (col) is hi or more: their tap, w - hi columns to the right, lies past the row's end. */
    private static FloatVector clearFrom(FloatVector v, IntVector col, int hi) {
        return v.reinterpretAsInts().blend(0, col.compare(VectorOperators.GE, hi)).reinterpretAsFloats();
    }

    /** The lanes' columns one vector on: col + step (L mod w), less w where that reaches w. */
    private static IntVector nextColumns(IntVector col, IntVector step, int w) {
        IntVector next = col.add(step);
        return next.sub(w, next.compare(VectorOperators.GE, w));
    }

    /** out planes (n, k), overwritten; bias may be null. Tasks take (image, block of output channels). */
    static void forward(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g) {
        Flat f = Flat.of(g);
        int hw = g.h() * g.w(), ohw = g.ohw(), rs = g.r() * g.s();
        int per = DepthwiseKernels.planesPerTask(g), blocks = (g.k() + per - 1) / per;
        Parallel.forEach(g.n() * blocks, task -> {
            int n = task / blocks, k0 = (task % blocks) * per, k1 = Math.min(g.k(), k0 + per);
            float[] p = f.zeroedScratch(), buf = DepthwiseKernels.spillScratch(f.span());
            for (int k = k0; k < k1; k++) {
                System.arraycopy(in, inOff + (n * g.c() + k / g.kg()) * hw, p, f.top(), hw);
                float b = bias == null ? 0f : bias[bOff + k];
                int o = (n * g.k() + k) * ohw;
                // A plane is stored in whole vectors: the last one's spill lands in the planes after it,
                // which this task computes next and so overwrites; a plane whose spill would reach past the
                // task's planes (into another task's) goes through buf. A branch per vector instead cost 2x
                // on 14x14 planes.
                boolean direct = (k1 - k) * ohw >= f.span();
                float[] dst = direct ? out : buf;
                int at = direct ? o : 0;
                if (g.r() == 3 && g.s() == 3) plane3x3(p, f, w, wOff + k * rs, b, dst, at);
                else plane(p, f, g, w, wOff + k * rs, b, dst, at);
                if (!direct) System.arraycopy(buf, 0, out, o, ohw);
            }
        });
    }

    /** One 3x3 output plane into out[o, o + span): the nine weights in registers, one chain per tap column, the outer two masked. */
    private static void plane3x3(float[] p, Flat f, float[] w, int wk, float b, float[] out, int o) {
        int rs = f.rowStep(), cs = f.colStep(), span = f.span(), width = f.width();
        FloatVector bias = bc(b), w0 = bc(w[wk]), w1 = bc(w[wk + 1]), w2 = bc(w[wk + 2]), w3 = bc(w[wk + 3]), w4 = bc(w[wk + 4]),
                w5 = bc(w[wk + 5]), w6 = bc(w[wk + 6]), w7 = bc(w[wk + 7]), w8 = bc(w[wk + 8]);
        IntVector col = f.firstColumnVector(), step = f.columnStep();
        for (int q = 0; q < span; q += L) {
            int c0 = q, c1 = c0 + rs, c2 = c1 + rs;
            FloatVector l = ld(p, c2).fma(w6, ld(p, c1).fma(w3, ld(p, c0).mul(w0)));
            FloatVector m = ld(p, c2 + cs).fma(w7, ld(p, c1 + cs).fma(w4, ld(p, c0 + cs).fma(w1, bias)));
            FloatVector r = ld(p, c2 + 2 * cs).fma(w8, ld(p, c1 + 2 * cs).fma(w5, ld(p, c0 + 2 * cs).mul(w2)));
            // same width: pw = dw, so the outer columns reach dw to either side
            m.add(clearBelow(l, col, cs)).add(clearFrom(r, col, width - cs)).intoArray(out, o + q);
            col = nextColumns(col, step, width);
        }
    }

    /** One output plane of any kernel size into out[o, o + span): per tap column, its rows summed, then masked and added. */
    private static void plane(float[] p, Flat f, ConvGeom g, float[] w, int wk, float b, float[] out, int o) {
        int rs = f.rowStep(), cs = f.colStep(), width = f.width();
        IntVector cols = f.firstColumnVector(), step = f.columnStep();
        for (int q = 0; q < f.span(); q += L) {
            FloatVector acc = bc(b);
            for (int j = 0; j < g.s(); j++) {
                FloatVector sum = FloatVector.zero(F);
                for (int i = 0; i < g.r(); i++) sum = ld(p, q + i * rs + j * cs).fma(bc(w[wk + i * g.s() + j]), sum);
                int dx = j * cs - g.pw();
                acc = acc.add(dx == 0 ? sum : dx < 0 ? clearBelow(sum, cols, -dx) : clearFrom(sum, cols, width - dx));
            }
            acc.intoArray(out, o + q);
            cols = nextColumns(cols, step, width);
        }
    }

    /** dW of a 3x3 layer, overwritten: one task per output channel, images summed in order. */
    static void backwardWeight3x3(float[] dW, float[] dOut, int dOff, float[] in, int inOff, ConvGeom g) {
        Flat f = Flat.of(g);
        Parallel.forEach(g.k(), k -> weightTaps3x3(dW, dOut, dOff, in, inOff, g, k, f));
    }

    /**
     * dW of output channel k: per image, nine vector accumulators (one per tap) against each
     * vector of dOut, masked to the lanes inside the plane (valid), and for the outer tap columns
     * to the lanes where they lie in the row. Whole vectors of dOut are read, reaching into the
     * next plane (masked off); only the array's last plane, where that would run past the end,
     * comes through a buffer.
     */
    private static void weightTaps3x3(float[] dW, float[] dOut, int dOff, float[] in, int inOff, ConvGeom g, int k, Flat f) {
        int hw = g.h() * g.w(), ohw = g.ohw(), rs = f.rowStep(), cs = f.colStep(), span = f.span(), width = f.width();
        IntVector first = f.firstColumnVector(), step = f.columnStep(), lanes = IntVector.fromArray(I, LANES, 0);
        float[] p = f.zeroedScratch(), buf = DepthwiseKernels.spillScratch(span);
        FloatVector zero = FloatVector.zero(F), a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero, a8 = zero;
        for (int n = 0; n < g.n(); n++) {
            System.arraycopy(in, inOff + (n * g.c() + k / g.kg()) * hw, p, f.top(), hw);
            float[] d = dOut;
            int go = dOff + (n * g.k() + k) * ohw;
            if (go + span > dOut.length) {
                System.arraycopy(dOut, go, buf, 0, ohw);
                d = buf;
                go = 0;
            }
            IntVector col = first;
            for (int q = 0; q < span; q += L) {
                FloatVector raw = ld(d, go + q);
                FloatVector dm = raw.reinterpretAsInts().blend(0, lanes.compare(VectorOperators.GE, ohw - q)).reinterpretAsFloats();
                FloatVector dl = clearBelow(dm, col, cs), dr = clearFrom(dm, col, width - cs);
                col = nextColumns(col, step, width);
                int c0 = q, c1 = c0 + rs, c2 = c1 + rs;
                a0 = ld(p, c0).fma(dl, a0);
                a1 = ld(p, c0 + cs).fma(dm, a1);
                a2 = ld(p, c0 + 2 * cs).fma(dr, a2);
                a3 = ld(p, c1).fma(dl, a3);
                a4 = ld(p, c1 + cs).fma(dm, a4);
                a5 = ld(p, c1 + 2 * cs).fma(dr, a5);
                a6 = ld(p, c2).fma(dl, a6);
                a7 = ld(p, c2 + cs).fma(dm, a7);
                a8 = ld(p, c2 + 2 * cs).fma(dr, a8);
            }
        }
        // Spelled out: handing the nine vectors to a shared helper (varargs) made C2 box them in the
        // loop above too: the weight gradient fell from ~25 to ~3 GFLOP/s (measured).
        int o = k * 9;
        dW[o] = Simd.sumLanes(a0);
        dW[o + 1] = Simd.sumLanes(a1);
        dW[o + 2] = Simd.sumLanes(a2);
        dW[o + 3] = Simd.sumLanes(a3);
        dW[o + 4] = Simd.sumLanes(a4);
        dW[o + 5] = Simd.sumLanes(a5);
        dW[o + 6] = Simd.sumLanes(a6);
        dW[o + 7] = Simd.sumLanes(a7);
        dW[o + 8] = Simd.sumLanes(a8);
    }
}
