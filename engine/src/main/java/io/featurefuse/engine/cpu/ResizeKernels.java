package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;

/**
 * Bilinear and nearest resizing of planes (N*C of them) through per-axis tables: each output
 * row (column) reads source rows i0 and i1 with weights 1 - t and t (nearest: t = 0). The tables
 * follow PyTorch's source-index rules, so both modes and both align_corners rules are just
 * different tables. float32 kernels run parallel over blocks of planes; float64 ones are the reference.
 */
public final class ResizeKernels {
    private ResizeKernels() {}

    /** Source indices and weights for one axis. */
    public record Axis(int in, int[] i0, int[] i1, double[] t) {
        public int out() { return i0.length; }
    }

    /**
     * The bilinear table of PyTorch's upsample_bilinear2d (identity where out == in). scale = (in - 1) / (out - 1) with
     * align_corners, else 1 / scaleFactor when one was given, else in / out; the source index is
     * scale * dst with align_corners, else max(scale (dst + 0.5) - 0.5, 0). PyTorch computes this
     * in the tensor's precision, so float32 tensors get a float32 table.
     */
    public static Axis bilinear(int in, int out, boolean alignCorners, double scaleFactor, boolean float32) {
        int[] i0 = new int[out], i1 = new int[out];
        double[] t = new double[out];
        if (out == in) {
            // PyTorch (1.13, checked) leaves an axis whose size does not change as it is, even when a
            // scale factor such as 1.25 maps 2 to 2 and would otherwise shift the samples.
            for (int o = 0; o < out; o++) i0[o] = i1[o] = o;
            return new Axis(in, i0, i1, t);
        }
        if (float32) {
            float scale = alignCorners ? (out > 1 ? (float) (in - 1) / (out - 1) : 0f)
                    : (scaleFactor > 0 ? (float) (1.0 / scaleFactor) : (float) in / out);
            for (int o = 0; o < out; o++) {
                float src = alignCorners ? scale * o : Math.max(scale * (o + 0.5f) - 0.5f, 0f);
                int a = (int) src;
                i0[o] = a;
                i1[o] = a + (a < in - 1 ? 1 : 0);
                t[o] = src - a;
            }
        } else {
            double scale = alignCorners ? (out > 1 ? (double) (in - 1) / (out - 1) : 0)
                    : (scaleFactor > 0 ? 1.0 / scaleFactor : (double) in / out);
            for (int o = 0; o < out; o++) {
                double src = alignCorners ? scale * o : Math.max(scale * (o + 0.5) - 0.5, 0);
                int a = (int) src;
                i0[o] = a;
                i1[o] = a + (a < in - 1 ? 1 : 0);
                t[o] = src - a;
            }
        }
        return new Axis(in, i0, i1, t);
    }

    /** PyTorch's 'nearest': src = min(floor(dst * scale), in - 1), scale in float32 (as ATen), with exact shortcuts for out == in and out == 2 in. */
    public static Axis nearest(int in, int out, double scaleFactor) {
        int[] i0 = new int[out];
        float scale = scaleFactor > 0 ? (float) (1.0 / scaleFactor) : (float) in / out;
        for (int o = 0; o < out; o++) {
            if (out == in) i0[o] = o;
            else if (out == 2 * in) i0[o] = o >> 1;
            else i0[o] = Math.min((int) Math.floor(o * scale), in - 1);
        }
        return new Axis(in, i0, i0.clone(), new double[out]);
    }

    /** This thread's resized planes, before Prepared.forward adds them. */
    private static final ThreadLocal<float[][]> SUM = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    /** This thread's buffer of source rows resized along x (rows x out columns). */
    private static final ThreadLocal<float[][]> ROWS = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    private static float[] rows(int size) {
        return Parallel.grow(ROWS.get(), 0, size);
    }

    private static float[] floats(double[] t) {
        float[] f = new float[t.length];
        for (int i = 0; i < t.length; i++) f[i] = (float) t[i];
        return f;
    }

    private static float[] complement(float[] t) {
        float[] s = new float[t.length];
        for (int i = 0; i < t.length; i++) s[i] = 1 - t[i];
        return s;
    }

    /**
     * Separable: each source row is resized along x once into a row buffer, then each output row
     * blends two buffered rows in vectors. The products and sums are the same as
     * out = sy (sx a + tx b) + ty (sx c + tx d) per element, so results are unchanged; per element,
     * that formula took four gathers and two table lookups per output (measured 0.35x PyTorch's
     * GB/s on 96x7x7 -> 14x14 on an AVX-512 host). A task resizes all its planes' rows along x
     * first, one band at a time (see {@link Bands}), then blends; a row's last vector ends at ow,
     * overlapping the one before (each output is computed from the buffer alone, so the overlap
     * writes the same values). A row narrower than a vector is one vector whose lanes past the row
     * are thrown away (the next row overwrites them; masked off at a task's last row): with
     * 16-float vectors, 96x7x7 -> 14x14 went one output at a time before and took ~4.4 ms for
     * batch 256 on two threads (5.6 GB/s).
     */
    public static void forward(float[] out, float[] in, int inOff, int planes, Axis ay, Axis ax) {
        Prepared r = prepare(ay, ax);
        // a 7x7 -> 14x14 plane is ~1,000 multiply-adds, too little for a task alone
        Parallel.forRanges(planes, r.ohw + r.ih * r.ow, (p0, p1) -> r.forward(out, 0, in, inOff, p0, p1, false));
    }

    /** The tables of a resize from ay.in() x ax.in() to ay.out() x ax.out(), made once for every plane and call that uses them. */
    public static Prepared prepare(Axis ay, Axis ax) {
        return new Prepared(ay, ax);
    }

    /** A resize's tables in the forms the float32 kernels read, with those kernels over a range of planes on the calling thread. */
    public static final class Prepared {
        private final int ih, iw, oh, ow, ihw, ohw, hs;
        private final float[] tx, sx, ty, sy;
        private final int[] c0, c1, r0, r1;
        private final Bands bands;
        private final Taps byRow, byColumn;
        private final Gathers gathers;

        private Prepared(Axis ay, Axis ax) {
            ih = ay.in();
            iw = ax.in();
            oh = ay.out();
            ow = ax.out();
            ihw = ih * iw;
            ohw = oh * ow;
            tx = floats(ax.t());
            sx = complement(tx);
            ty = floats(ay.t());
            sy = complement(ty);
            c0 = ax.i0();
            c1 = ax.i1();
            r0 = ay.i0();
            r1 = ay.i1();
            bands = Bands.of(c0, c1, sx, tx);
            byRow = Taps.of(r0, r1, sy, ty, ih);
            byColumn = Taps.of(c0, c1, sx, tx, iw);
            hs = ow + 1; // backward's buffer row stride: column ow stays 0 (see Gathers)
            gathers = Gathers.of(byColumn, ih, hs);
        }

        /** Floats of a source plane and of a resized one. */
        public int inPlane() { return ihw; }
        public int outPlane() { return ohw; }
        public int outRows() { return oh; }

        /**
         * Planes [p0, p1): plane p from in[inOff + p ih iw] resized into out[outOff + p oh ow], or added to what is there
         * (adding: written into a buffer first, then added in one pass of whole vectors over the planes, which lie end to
         * end. Adding row by row, a masked vector for each 14-wide row, the reference head's forward, 64 + 96 channels at
         * 14x14 and 7x7 into 128, b128, 2 threads, took 3.88-4.33 ms against 3.20-3.51 this way (harness, best of 20).)
         */
        public void forward(float[] out, int outOff, float[] in, int inOff, int p0, int p1, boolean adding) {
            if (!adding) {
                write(out, outOff, in, inOff, p0, p1);
                return;
            }
            float[] sum = Parallel.grow(SUM.get(), 0, (p1 - p0) * ohw + L);
            write(sum, -p0 * ohw, in, inOff, p0, p1);
            Conv2dKernels.addInto(out, outOff + p0 * ohw, sum, 0, (p1 - p0) * ohw);
        }

        private void write(float[] out, int outOff, float[] in, int inOff, int p0, int p1) {
            VectorMask<Float> narrow = F.indexInRange(0, ow);
            float[] h = rows((p1 - p0) * ih * ow + L); // + L: a narrow row's vector reads and writes past the row's end
            alongX(in, inOff + p0 * ihw, (p1 - p0) * ih, iw, c0, c1, sx, tx, bands, h);
            int end = outOff + p1 * ohw;
            for (int p = p0; p < p1; p++)
                for (int y = 0, o = outOff + p * ohw, hp = (p - p0) * ih * ow; y < oh; y++, o += ow) {
                    int a = hp + r0[y] * ow, b = hp + r1[y] * ow;
                    FloatVector vs = FloatVector.broadcast(F, sy[y]), vt = FloatVector.broadcast(F, ty[y]);
                    if (ow < L) { // one vector a row; its lanes past ow land in the next row, which is written after it, or are masked off at the range's end
                        FloatVector v = blend(h, a, b, vs, vt);
                        if (o + L <= end) v.intoArray(out, o);
                        else v.intoArray(out, o, narrow);
                        continue;
                    }
                    for (int x = 0; ; x = Math.min(x + L, ow - L)) {
                        blend(h, a + x, b + x, vs, vt).intoArray(out, o + x);
                        if (x == ow - L) break;
                    }
                }
        }

        private static FloatVector blend(float[] h, int a, int b, FloatVector vs, FloatVector vt) {
            return FloatVector.fromArray(F, h, a).mul(vs).add(FloatVector.fromArray(F, h, b).mul(vt));
        }

        /**
         * dIn gets every output gradient back along the same four weights, in the forward's two
         * passes turned around and written as gathers: each buffered source row is the weighted sum
         * of the output rows that read it (vectors, a row's last one overlapping as in forward), then
         * each input is the weighted sum of the buffered columns that read it. The sums run in the
         * order a scatter in output order would add them (see {@link Taps}), so the bits are the
         * scatter's, without zeroing the buffer and dIn first and adding into them. A row narrower
         * than a vector is one masked vector: 96x7x7 <- 14x14 b128 (the reference model's), two
         * threads, 2.65-2.69 -> 0.79-0.80 ms (best of 200), where it went one value at a time. dOut's plane p =
         * (image, channel) starts at dOff + image imageStride + channel oh ow: a channel slice of a
         * larger gradient is read in place (a dense one has imageStride = channels oh ow).
         */
        public void backward(float[] dIn, int dInOff, float[] dOut, int dOff, int channels, int imageStride, int p0, int p1) {
            VectorMask<Float> narrow = F.indexInRange(0, ow);
            float[] h = rows(ih * hs);
            for (int r = 0; r < ih; r++) h[r * hs + ow] = 0f;
            for (int p = p0; p < p1; p++) {
                int g = dOff + p / channels * imageStride + p % channels * ohw;
                for (int r = 0; r < ih; r++) {
                    int t0 = byRow.start()[r], t1 = byRow.start()[r + 1];
                    if (ow < L) { // one masked vector a row: its loads stay in the plane, its store leaves column ow at 0
                        FloatVector sum = FloatVector.zero(F);
                        for (int t = t0; t < t1; t++)
                            sum = FloatVector.fromArray(F, dOut, g + byRow.from()[t] * ow, narrow).mul(byRow.weight()[t]).add(sum);
                        sum.intoArray(h, r * hs, narrow);
                        continue;
                    }
                    for (int x = 0; ; x = Math.min(x + L, ow - L)) {
                        FloatVector sum = FloatVector.zero(F);
                        for (int t = t0; t < t1; t++)
                            sum = FloatVector.fromArray(F, dOut, g + byRow.from()[t] * ow + x).mul(byRow.weight()[t]).add(sum);
                        sum.intoArray(h, r * hs + x);
                        if (x == ow - L) break;
                    }
                }
                int at = dInOff + p * ihw;
                if (gathers != null) {
                    gathers.apply(h, dIn, at);
                    continue;
                }
                for (int r = 0, base = at; r < ih; r++, base += iw)
                    for (int c = 0; c < iw; c++) {
                        float sum = 0;
                        for (int t = byColumn.start()[c]; t < byColumn.start()[c + 1]; t++) sum += byColumn.weight()[t] * h[r * hs + byColumn.from()[t]];
                        dIn[base + c] = sum;
                    }
            }
        }
    }

    /**
     * h (rows x ow) = the rows of iw floats from in[src] on, each resized along x. With bands, one
     * band (a column of vectors) at a time down all the rows, its permutes and weights held in
     * registers; rows whose band load would pass the end of the array, and every row without
     * bands, take the scalar loop.
     */
    private static void alongX(float[] in, int src, int rows, int iw, int[] c0, int[] c1, float[] sx, float[] tx, Bands bands, float[] h) {
        int ow = c0.length, scalarFrom = 0;
        if (bands != null) {
            long room = (long) in.length - src - bands.cs()[bands.cs().length - 1] - L; // row r may load at src + r iw + cs while r iw <= room
            scalarFrom = room < 0 ? 0 : (int) Math.min(rows, room / iw + 1);
            for (int k = 0; k < bands.cs().length; k++) {
                VectorShuffle<Float> s0 = bands.s0()[k], s1 = bands.s1()[k];
                FloatVector w0 = FloatVector.fromArray(F, bands.w0(), k * L), w1 = FloatVector.fromArray(F, bands.w1(), k * L);
                for (int r = 0, at = src + bands.cs()[k], d = bands.xb()[k]; r < scalarFrom; r++, at += iw, d += ow) {
                    FloatVector v = FloatVector.fromArray(F, in, at);
                    v.rearrange(s0).mul(w0).add(v.rearrange(s1).mul(w1)).intoArray(h, d);
                }
            }
        }
        for (int r = scalarFrom; r < rows; r++)
            for (int x = 0, at = src + r * iw; x < ow; x++) h[r * ow + x] = sx[x] * in[at + c0[x]] + tx[x] * in[at + c1[x]];
    }

    /**
     * The x pass in vectors, for rows whose every block of L outputs (one block for a row narrower
     * than a vector, its lanes past the row weighted 0) reads
     * a band of at most L source columns (upsampling, or sizes near the input's): block k's
     * outputs start at xb[k] (the last block ends at ow, overlapping the one before), its band at
     * source column cs[k]; lane l takes lanes s0[k][l] and s1[k][l] of the vector loaded at the
     * band, with the table's weights w0, w1 (the same products and sum as the scalar loop, so the
     * same bits). One load and two permutes replace 2 L scalar loads: the x pass of 96x7x7 ->
     * 14x14 planes went from ~4.6 to ~2.0 ms per 24576 planes on one thread (a standalone loop).
     */
    private record Bands(int[] xb, int[] cs, VectorShuffle<Float>[] s0, VectorShuffle<Float>[] s1, float[] w0, float[] w1) {
        @SuppressWarnings("unchecked")
        static Bands of(int[] c0, int[] c1, float[] sx, float[] tx) {
            int ow = c0.length, blocks = (ow + L - 1) / L;
            int[] xb = new int[blocks], cs = new int[blocks], lanes0 = new int[L], lanes1 = new int[L];
            VectorShuffle<Float>[] s0 = new VectorShuffle[blocks], s1 = new VectorShuffle[blocks];
            float[] w0 = new float[blocks * L], w1 = new float[blocks * L];
            for (int k = 0; k < blocks; k++) {
                int x0 = Math.max(0, Math.min(k * L, ow - L)), from = c0[x0];
                for (int l = 0; l < Math.min(L, ow); l++) { // a narrow row's lanes past ow keep lane 0 and weight 0
                    lanes0[l] = c0[x0 + l] - from;
                    lanes1[l] = c1[x0 + l] - from;
                    if (lanes0[l] < 0 || lanes1[l] < 0 || lanes0[l] >= L || lanes1[l] >= L) return null; // band wider than a vector
                    w0[k * L + l] = sx[x0 + l];
                    w1[k * L + l] = tx[x0 + l];
                }
                xb[k] = x0;
                cs[k] = from;
                s0[k] = VectorShuffle.fromArray(F, lanes0, 0);
                s1[k] = VectorShuffle.fromArray(F, lanes1, 0);
            }
            return new Bands(xb, cs, s0, s1, w0, w1);
        }
    }

    public static void forward(double[] out, double[] in, int inOff, int planes, Axis ay, Axis ax) {
        int ihw = ay.in() * ax.in(), ohw = ay.out() * ax.out(), iw = ax.in(), ow = ax.out();
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < ay.out(); y++) {
                double ty = ay.t()[y], sy = 1 - ty;
                int r0 = inOff + p * ihw + ay.i0()[y] * iw, r1 = inOff + p * ihw + ay.i1()[y] * iw;
                for (int x = 0; x < ow; x++) {
                    double tx = ax.t()[x], sx = 1 - tx;
                    int c0 = ax.i0()[x], c1 = ax.i1()[x];
                    out[p * ohw + y * ow + x] = sy * (sx * in[r0 + c0] + tx * in[r0 + c1]) + ty * (sx * in[r1 + c0] + tx * in[r1 + c1]);
                }
            }
    }

    /** dIn (planes of ay.in() x ax.in()), overwritten, from dOut; see Prepared.backward for dOut's layout. */
    public static void backward(float[] dIn, float[] dOut, int dOff, int channels, int imageStride, int planes, Axis ay, Axis ax) {
        Prepared r = prepare(ay, ax);
        // a 7x7 -> 14x14 plane is ~1,000 multiply-adds, too little for a task alone
        Parallel.forRanges(planes, r.ohw + r.ih * r.ow, (p0, p1) -> r.backward(dIn, 0, dOut, dOff, channels, imageStride, p0, p1));
    }

    /**
     * Backward's x pass in vectors: L inputs at a time, each the sum of its taps (in Taps order)
     * of weight times a buffered value, fetched by a gather. Inputs with fewer taps than the most
     * any has are padded with taps of weight 0 on the buffer's column ow, which holds 0, so a
     * padded tap adds +0 (a 0 weight on a real value would turn an infinite gradient there into
     * NaN where the scatter leaves it out). A segment is a row of iw inputs, or, when rows are
     * narrower than a vector, the whole plane with the rows' offsets in the indices; a
     * segment's last vector ends at its end, overlapping the one before. The scalar gather this
     * replaces (a dependent chain of adds per input) took half of a 96x14x14 -> 7x7 backward.
     */
    private record Gathers(int segment, int rows, int rowStride, int taps, int[] index, float[] weight) {
        static Gathers of(Taps t, int ih, int hs) {
            int iw = t.start().length - 1, taps = 0;
            for (int c = 0; c < iw; c++) taps = Math.max(taps, t.start()[c + 1] - t.start()[c]);
            boolean byRow = iw >= L;
            int segment = byRow ? iw : ih * iw;
            if (segment < L) return null;
            int[] index = new int[taps * segment];
            float[] weight = new float[taps * segment];
            for (int q = 0; q < segment; q++) {
                int c = q % iw, row = byRow ? 0 : q / iw * hs, n = t.start()[c + 1] - t.start()[c];
                for (int k = 0; k < taps; k++) {
                    index[k * segment + q] = row + (k < n ? t.from()[t.start()[c] + k] : hs - 1);
                    weight[k * segment + q] = k < n ? t.weight()[t.start()[c] + k] : 0f;
                }
            }
            return new Gathers(segment, byRow ? ih : 1, byRow ? hs : 0, taps, index, weight);
        }

        /** dIn[at ..] (the plane's ih x iw inputs) from the buffered rows h. */
        void apply(float[] h, float[] dIn, int at) {
            for (int s = 0; s < rows; s++, at += segment)
                for (int q = 0; ; q = Math.min(q + L, segment - L)) {
                    FloatVector sum = FloatVector.zero(F);
                    for (int k = 0; k < taps; k++)
                        sum = FloatVector.fromArray(F, h, s * rowStride, index, k * segment + q).mul(FloatVector.fromArray(F, weight, k * segment + q)).add(sum);
                    sum.intoArray(dIn, at + q);
                    if (q == segment - L) break;
                }
        }
    }

    /**
     * One axis's table turned around: for each source index s, the outputs that read it
     * (from[start[s]] .. from[start[s + 1] - 1]) and their weights, in output order and, for one
     * output, its i0 tap before its i1 tap: the order a scatter over the outputs adds them.
     */
    private record Taps(int[] start, int[] from, float[] weight) {
        static Taps of(int[] i0, int[] i1, float[] s, float[] t, int in) {
            int[] start = new int[in + 1];
            for (int o = 0; o < i0.length; o++) {
                start[i0[o] + 1]++;
                start[i1[o] + 1]++;
            }
            for (int k = 0; k < in; k++) start[k + 1] += start[k];
            int[] next = java.util.Arrays.copyOf(start, in), from = new int[2 * i0.length];
            float[] weight = new float[2 * i0.length];
            for (int o = 0; o < i0.length; o++) {
                from[next[i0[o]]] = o;
                weight[next[i0[o]]++] = s[o];
                from[next[i1[o]]] = o;
                weight[next[i1[o]]++] = t[o];
            }
            return new Taps(start, from, weight);
        }
    }

    public static void backward(double[] dIn, double[] dOut, int dOff, int channels, int imageStride, int planes, Axis ay, Axis ax) {
        int ihw = ay.in() * ax.in(), ohw = ay.out() * ax.out(), iw = ax.in(), ow = ax.out();
        java.util.Arrays.fill(dIn, 0);
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < ay.out(); y++) {
                double ty = ay.t()[y], sy = 1 - ty;
                int r0 = p * ihw + ay.i0()[y] * iw, r1 = p * ihw + ay.i1()[y] * iw;
                for (int x = 0; x < ow; x++) {
                    double g = dOut[dOff + p / channels * imageStride + p % channels * ohw + y * ow + x];
                    double tx = ax.t()[x], sx = 1 - tx;
                    int c0 = ax.i0()[x], c1 = ax.i1()[x];
                    dIn[r0 + c0] += sy * sx * g;
                    dIn[r0 + c1] += sy * tx * g;
                    dIn[r1 + c0] += ty * sx * g;
                    dIn[r1 + c1] += ty * tx * g;
                }
            }
    }
}
