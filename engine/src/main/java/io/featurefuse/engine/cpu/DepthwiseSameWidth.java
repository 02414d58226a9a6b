package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.DepthwiseKernels.bc;
import static io.featurefuse.engine.cpu.DepthwiseKernels.ld;
import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
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
 * padding, so that column's partial sum is cleared in those lanes by a bit mask (an AND, not a
 * multiply by 0: an infinity next door would turn 0 * inf into NaN).
 *
 * <p>Same layer, forward, one thread, best per call: 0.58 ms; with the arithmetic left out
 * 0.115 ms, with the plane copies left out 0.445 (0.385 without the masks too): the arithmetic
 * is the cost, not memory (a plain copy of the 6.4 MB input takes ~0.12 ms). Tried, 2 threads:
 * rows padded to a whole vector with zero columns (no masks, 9 loads a vector instead of 11)
 * ran slower, best 0.41 ms against 0.37 in the same run; copying the next plane into a second
 * buffer before computing this one measured even.
 */
final class DepthwiseSameWidth {
    private DepthwiseSameWidth() {}

    private static final VectorSpecies<Integer> I = F.vectorShape().withLanes(int.class);

    static boolean applies(ConvGeom g) {
        return g.sh() == 1 && g.sw() == 1 && g.ow() == g.w() && DepthwiseKernels.applies(g);
    }

    /**
     * The flat view of one call: the plane is copied to top = ph w + pw in a buffer of length
     * floats, so tap (i, j) of output q is at q + i dh w + j dw. Planes are computed in whole
     * vectors, span = oh ow rounded up. columns[j] is -1 in the lanes (q &lt; oh ow) whose tap
     * column j lies inside the row, 0 elsewhere, or null when it always does; valid is -1 for q &lt; oh ow.
     */
    private record Flat(int top, int length, int rowStep, int colStep, int span, int[][] columns, int[] valid) {
        static Flat of(ConvGeom g) {
            int w = g.w(), ohw = g.ohw(), span = (ohw + L - 1) / L * L;
            int[][] columns = new int[g.s()][];
            for (int j = 0; j < g.s(); j++) {
                int dx = j * g.dw() - g.pw();
                if (dx == 0) continue;
                columns[j] = new int[span];
                for (int q = 0; q < ohw; q++) columns[j][q] = q % w + dx >= 0 && q % w + dx < w ? -1 : 0;
            }
            int[] valid = new int[span];
            java.util.Arrays.fill(valid, 0, ohw, -1);
            int top = g.ph() * w + g.pw();
            int length = Math.max(top + g.h() * w, span + (g.r() - 1) * g.dh() * w + (g.s() - 1) * g.dw());
            return new Flat(top, length, g.dh() * w, g.dw(), span, columns, valid);
        }

        /** This thread's scratch buffer, zeroed once per task: planes only ever overwrite [top, top + h w). */
        float[] zeroedScratch() {
            return DepthwiseKernels.zeroedScratch(length);
        }
    }

    /** v with the lanes cleared where mask[at ..] is 0. */
    private static FloatVector keep(FloatVector v, int[] mask, int at) {
        return v.reinterpretAsInts().and(IntVector.fromArray(I, mask, at)).reinterpretAsFloats();
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
        int rs = f.rowStep(), cs = f.colStep(), span = f.span();
        int[] left = f.columns()[0], right = f.columns()[2];
        FloatVector bias = bc(b), w0 = bc(w[wk]), w1 = bc(w[wk + 1]), w2 = bc(w[wk + 2]), w3 = bc(w[wk + 3]), w4 = bc(w[wk + 4]),
                w5 = bc(w[wk + 5]), w6 = bc(w[wk + 6]), w7 = bc(w[wk + 7]), w8 = bc(w[wk + 8]);
        for (int q = 0; q < span; q += L) {
            int c0 = q, c1 = c0 + rs, c2 = c1 + rs;
            FloatVector l = ld(p, c2).fma(w6, ld(p, c1).fma(w3, ld(p, c0).mul(w0)));
            FloatVector m = ld(p, c2 + cs).fma(w7, ld(p, c1 + cs).fma(w4, ld(p, c0 + cs).fma(w1, bias)));
            FloatVector r = ld(p, c2 + 2 * cs).fma(w8, ld(p, c1 + 2 * cs).fma(w5, ld(p, c0 + 2 * cs).mul(w2)));
            m.add(keep(l, left, q)).add(keep(r, right, q)).intoArray(out, o + q);
        }
    }

    /** One output plane of any kernel size into out[o, o + span): per tap column, its rows summed, then masked and added. */
    private static void plane(float[] p, Flat f, ConvGeom g, float[] w, int wk, float b, float[] out, int o) {
        int rs = f.rowStep(), cs = f.colStep();
        for (int q = 0; q < f.span(); q += L) {
            FloatVector acc = bc(b);
            for (int j = 0; j < g.s(); j++) {
                FloatVector col = FloatVector.zero(F);
                for (int i = 0; i < g.r(); i++) col = ld(p, q + i * rs + j * cs).fma(bc(w[wk + i * g.s() + j]), col);
                int[] mask = f.columns()[j];
                acc = acc.add(mask == null ? col : keep(col, mask, q));
            }
            acc.intoArray(out, o + q);
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
        int hw = g.h() * g.w(), ohw = g.ohw(), rs = f.rowStep(), cs = f.colStep(), span = f.span();
        int[] left = f.columns()[0], right = f.columns()[2], valid = f.valid();
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
            for (int q = 0; q < span; q += L) {
                FloatVector raw = ld(d, go + q), dm = keep(raw, valid, q), dl = keep(raw, left, q), dr = keep(raw, right, q);
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
