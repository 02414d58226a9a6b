package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * The input of one (image, group) copied so that every kernel tap's im2col row is a run of OH OW
 * contiguous floats: output (y, x), column y OW + x, reads tap (c, i, j) at q[shift[tap] + y OW + x].
 * One plane per (channel c, kernel column j, row phase a): plane row r, column x holds the padded
 * input at row r sh + a, column x sw + j dw (zero in the padding). Tap (c, i, j) reads plane
 * (c, j, i dh % sh) from row i dh / sh on; output row y + 1 follows row y directly, so a vector
 * of outputs that runs from the end of one output row into the next is one plain load.
 *
 * <p>Why: P's layout (ImplicitConv.Layout, Wq >= OW columns a row) shifts the whole padded plane
 * per tap, so a vector crossing an output row had to be blended from two loads. On a 5x5 1->32
 * 28x28 layer (every 32-output panel crosses a row) that blended gather took ~21% of the forward.
 * The copy is S sh times the input (5x for that layer) against K R S multiply-adds per input.
 *
 * <p>Each thread keeps its planes in a buffer of its own. The positions a fill writes are the same
 * for every image of a layer, so the zeros of the padding, written when the buffer was last laid out
 * for another input geometry, are still there for the next image and are not written again.
 *
 * @param rows   rows of a plane: OH + (R - 1) dh / sh
 * @param plane  floats of a plane, rows OW
 * @param shift  where each tap's run starts, indexed (c R + i) S + j like the weights
 * @param size   floats of the buffer: the planes and NR more (a panel of outputs reads up to NR - 1 past them)
 * @param layout the geometry of one (image, group)'s input (n, k and groups 1): what decides which
 *               positions a fill writes
 */
record TapPlanes(int rows, int plane, int[] shift, int size, ConvGeom layout) {

    /** A thread's planes, and the input layout whose padding they hold zeros for (null: none yet). */
    private static final class Buffer {
        float[] q = new float[0];
        ConvGeom laidOut;
    }

    private static final ThreadLocal<Buffer> BUFFER = ThreadLocal.withInitial(Buffer::new);

    static TapPlanes of(ConvGeom g) {
        int sh = g.sh(), rows = g.oh() + (g.r() - 1) * g.dh() / sh, plane = rows * g.ow();
        int[] shift = new int[g.crs()];
        for (int c = 0; c < g.cg(); c++)
            for (int i = 0; i < g.r(); i++)
                for (int j = 0; j < g.s(); j++) {
                    int ri = i * g.dh();
                    shift[(c * g.r() + i) * g.s() + j] = planeIndex(g, c, j, ri % sh) * plane + ri / sh * g.ow();
                }
        ConvGeom layout = new ConvGeom(1, g.cg(), g.h(), g.w(), 1, g.r(), g.s(), g.oh(), g.ow(), sh, g.sw(), g.ph(), g.pw(), g.dh(), g.dw(), 1);
        return new TapPlanes(rows, plane, shift, g.cg() * g.s() * sh * plane + Gemm.NR, layout);
    }

    private static int planeIndex(ConvGeom g, int c, int j, int phase) {
        return (c * g.s() + j) * g.sh() + phase;
    }

    /**
     * This thread's planes, holding the cg input channels at in[src] (each h x w): each row's valid
     * columns copied; everything else is zero, written only when the buffer was last laid out for
     * another input geometry (or is new). 5x5 1->32 28x28, b128, 2 threads, the planes filled per image
     * in a loop: ~2,900 GFLOP/s-equivalents of the layer with the zeros written every time, ~4,300
     * without; the layer's forward 3% of its time.
     */
    float[] fill(float[] in, int src, ConvGeom g) {
        Buffer b = BUFFER.get();
        if (b.q.length < size) {
            b.q = new float[size];
            b.laidOut = layout;
        } else if (!layout.equals(b.laidOut)) {
            java.util.Arrays.fill(b.q, 0, size, 0f);
            b.laidOut = layout;
        }
        float[] q = b.q;
        int ow = g.ow(), sh = g.sh(), sw = g.sw();
        for (int c = 0; c < g.cg(); c++)
            for (int j = 0; j < g.s(); j++) {
                int dx = j * g.dw() - g.pw(), x0 = g.firstColumn(dx), x1 = g.endColumn(dx, x0);
                if (x0 == x1) continue;
                for (int a = 0; a < sh; a++)
                    for (int r = 0, d = planeIndex(g, c, j, a) * plane; r < rows; r++, d += ow) {
                        int y = r * sh + a - g.ph();
                        if (y < 0 || y >= g.h()) continue;
                        int s = src + (c * g.h() + y) * g.w() + dx;
                        if (sw == 1) copyRow(in, s + x0, q, d + x0, x1 - x0);
                        else for (int x = x0; x < x1; x++) q[d + x] = in[s + x * sw];
                    }
            }
        return q;
    }

    /**
     * q[to, to + len) = in[from, from + len), in vectors: the last whole vector ends at len
     * (overlapping), or a masked one when len < L. Rather than System.arraycopy: 5x5 1->32 28x28
     * forward, b128, 2 threads, 4 alternations, best 217-250 against 203-238 GFLOP/s (ahead in 3).
     */
    private static void copyRow(float[] in, int from, float[] q, int to, int len) {
        if (len < L) {
            VectorMask<Float> m = F.indexInRange(0, len);
            FloatVector.fromArray(F, in, from, m).intoArray(q, to, m);
            return;
        }
        FloatVector.fromArray(F, in, from).intoArray(q, to);
        for (int x = L; x < len - L; x += L) FloatVector.fromArray(F, in, from + x).intoArray(q, to + x);
        FloatVector.fromArray(F, in, from + len - L).intoArray(q, to + len - L);
    }
}
