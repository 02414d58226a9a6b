package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;

/**
 * conv2d forward's product over {@link TapPlanes} with B read where it lies: register tiles of
 * 8 output channels x 3 vectors of outputs, over all crs taps at once (no k blocks, so no tile
 * ever adds to C). Only where the CPU has 32 vector registers (24 accumulators, 3 B vectors and
 * a broadcast; Gemm.MR is 8 exactly there).
 *
 * <p>Every tile is whole: the last row block starts at kg - 8, and outputs past the last whole
 * 3 L panel are covered by one or two 8 x L tiles (the last ending at OH OW) when they are at most
 * 2 L, else by a 3 L panel ending at OH OW; these overlap the tiles before. An overlapped output is
 * computed twice by the same operations in the same order, so it is written twice with the same
 * value, and no tile needs masks, a scratch tile or a copy. The narrow tiles are there for 28 x 28
 * planes (784 = 16 panels of 48 and 16): one 3 L panel over the last 16 outputs computed 816
 * columns for 784. Same layer (below), b128, the tiles over the batch in one JVM, GFLOP/s best /
 * mean over 6 rounds: one thread 167-182 / 146-161 -> 173-184 / 157-167, two threads 190-196 /
 * 165-174 -> 195-204 / 172-181 (a slow hour of the machine).
 *
 * <p>Measured on a 5x5 1->32 28x28 layer (crs = 25, one thread, the tiles alone over 128 images,
 * 12 alternations in one JVM, GFLOP/s median): Gemm's 8 x 2 tile over a gathered panel or over
 * the taps in place with its partial-tile and accumulate branches ~141-146; 8 x 2 without those
 * branches ~158-159; 8 x 3 ~166-169. Reading B through the tap table instead of from an im2col
 * matrix (a fixed stride per tap) measured the same at 8 x 3.
 *
 * <p>Row blocks outside, column panels inside: a block's tiles write 8 output planes from start
 * to end, where panels outside had all kg planes' write streams open at once (32 on that layer;
 * the batch's 12.8 MB output misses the caches, and presumably 32 streams of store misses are
 * more than the hardware prefetcher follows: not measured directly). Same layer, b128, 2
 * threads, jars alternating 3 times: 157-179 -> 194-214 GFLOP/s (Gemm's tiles over the blended
 * gather, before this class: 142-153).
 */
final class TapTiles {
    static final int ROWS = 8, COLS = 3 * L;

    private TapTiles() {}

    /** True where this route can run: 32 vector registers, and at least one whole tile of channels and of outputs. */
    static boolean applies(ConvGeom g) {
        return Gemm.MR == ROWS && g.kg() >= ROWS && g.ohw() >= COLS;
    }

    private static int blocks(int kg) {
        return (kg + ROWS - 1) / ROWS;
    }

    /** Floats of one group's packed weights: blocks of 8 rows x crs. */
    static int packedGroupSize(int kg, int crs) {
        return blocks(kg) * ROWS * crs;
    }

    /**
     * The weights (groups x kg x crs at w[wOff]) packed for {@link #multiply}: per group, row
     * blocks starting at 0, 8, ... and the last at kg - 8, each crs steps of 8 floats.
     */
    static float[] pack(float[] w, int wOff, int groups, int kg, int crs) {
        int per = packedGroupSize(kg, crs);
        float[] ap = new float[groups * per];
        for (int grp = 0; grp < groups; grp++)
            for (int b = 0; b < blocks(kg); b++)
                PackedA.pack(w, wOff + grp * kg * crs, false, crs, null, Math.min(b * ROWS, kg - ROWS), ROWS, 0, crs, ap, grp * per + b * ROWS * crs);
        return ap;
    }

    /**
     * out[outBase + k ohw + col] = sum over taps t of W[k][t] q[col + shift[t]] for the kg
     * channels and ohw outputs of one (image, group); ap from {@link #pack} at a0. With bias (kg
     * values from bias[b0]) or relu, each tile stores (sum + bias[k]) clamped at 0 (relu), the
     * operations of ImplicitConv's pass over the output after the tiles (keepValidColumns, bias
     * 0 when null), so the same bits without that pass. Measured as inference runs these layers
     * (BN folded into a bias, ReLU; 64 images on one thread, harness, steady state, 2 rounds):
     * 1->32 3x3 28x28 0.53-0.55 -> 0.46 ms, 5x5 0.77-0.81 -> 0.70-0.74 ms.
     */
    static void multiply(float[] ap, int a0, int kg, int crs, float[] q, int[] shift, float[] out, int outBase, int ohw, float[] bias, int b0,
                         boolean relu) {
        boolean epilogue = bias != null || relu;
        float[] add = bias == null ? NO_BIAS : bias;
        for (int b = 0; b < blocks(kg); b++) {
            int r0 = Math.min(b * ROWS, kg - ROWS), ao = a0 + b * ROWS * crs, o = outBase + r0 * ohw, bo = bias == null ? 0 : b0 + r0;
            int whole = ohw / COLS * COLS, rest = ohw - whole;
            for (int col = 0; col < whole; col += COLS) tile(ap, ao, q, col, shift, crs, out, o + col, ohw, epilogue, add, bo, relu);
            if (rest > 2 * L) {
                tile(ap, ao, q, ohw - COLS, shift, crs, out, o + ohw - COLS, ohw, epilogue, add, bo, relu);
            } else if (rest > 0) {
                if (rest > L) tileOne(ap, ao, q, whole, shift, crs, out, o + whole, ohw, epilogue, add, bo, relu);
                tileOne(ap, ao, q, ohw - L, shift, crs, out, o + ohw - L, ohw, epilogue, add, bo, relu);
            }
        }
    }

    /** The bias of a row block without one: the epilogue adds 0, as the pass it replaces did. */
    private static final float[] NO_BIAS = new float[ROWS];

    /**
     * One 8 x 3L tile: out[o + r ldc + x] = sum over t < kc of ap[ao + 8 t + r] q[col + shift[t] + x],
     * then, with the epilogue, plus add[bo + r] and clamped at 0 with relu. The bias comes from an
     * array even without one (NO_BIAS): a first draft broadcast {@code bias == null ? 0 : bias[i]}
     * through a small helper, which C2 inlined (-XX:+PrintInlining), yet this method then ran ~3.5x
     * slower (1->32 3x3 28x28, 64 images, one thread: 0.47 -> 1.75 ms; cause not found).
     */
    static void tile(float[] ap, int ao, float[] q, int col, int[] shift, int kc, float[] out, int o, int ldc, boolean epilogue, float[] add,
                     int bo, boolean relu) {
        FloatVector z = FloatVector.zero(F);
        FloatVector c00 = z, c01 = z, c02 = z,
                c10 = z, c11 = z, c12 = z,
                c20 = z, c21 = z, c22 = z,
                c30 = z, c31 = z, c32 = z,
                c40 = z, c41 = z, c42 = z,
                c50 = z, c51 = z, c52 = z,
                c60 = z, c61 = z, c62 = z,
                c70 = z, c71 = z, c72 = z;
        for (int t = 0, ai = ao; t < kc; t++, ai += ROWS) {
            int bi = col + shift[t];
            FloatVector b0 = FloatVector.fromArray(F, q, bi);
            FloatVector b1 = FloatVector.fromArray(F, q, bi + L);
            FloatVector b2 = FloatVector.fromArray(F, q, bi + 2 * L);
            FloatVector x;
            x = FloatVector.broadcast(F, ap[ai]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(F, ap[ai + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(F, ap[ai + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22);
            x = FloatVector.broadcast(F, ap[ai + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32);
            x = FloatVector.broadcast(F, ap[ai + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41); c42 = x.fma(b2, c42);
            x = FloatVector.broadcast(F, ap[ai + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51); c52 = x.fma(b2, c52);
            x = FloatVector.broadcast(F, ap[ai + 6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61); c62 = x.fma(b2, c62);
            x = FloatVector.broadcast(F, ap[ai + 7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71); c72 = x.fma(b2, c72);
        }
        if (epilogue) {
            FloatVector floor = FloatVector.broadcast(F, relu ? 0f : Float.NEGATIVE_INFINITY), x;
            x = FloatVector.broadcast(F, add[bo]);
            c00 = c00.add(x).max(floor); c01 = c01.add(x).max(floor); c02 = c02.add(x).max(floor);
            x = FloatVector.broadcast(F, add[bo + 1]);
            c10 = c10.add(x).max(floor); c11 = c11.add(x).max(floor); c12 = c12.add(x).max(floor);
            x = FloatVector.broadcast(F, add[bo + 2]);
            c20 = c20.add(x).max(floor); c21 = c21.add(x).max(floor); c22 = c22.add(x).max(floor);
            x = FloatVector.broadcast(F, add[bo + 3]);
            c30 = c30.add(x).max(floor); c31 = c31.add(x).max(floor); c32 = c32.add(x).max(floor);
            x = FloatVector.broadcast(F, add[bo + 4]);
            c40 = c40.add(x).max(floor); c41 = c41.add(x).max(floor); c42 = c42.add(x).max(floor);
            x = FloatVector.broadcast(F, add[bo + 5]);
            c50 = c50.add(x).max(floor); c51 = c51.add(x).max(floor); c52 = c52.add(x).max(floor);
            x = FloatVector.broadcast(F, add[bo + 6]);
            c60 = c60.add(x).max(floor); c61 = c61.add(x).max(floor); c62 = c62.add(x).max(floor);
            x = FloatVector.broadcast(F, add[bo + 7]);
            c70 = c70.add(x).max(floor); c71 = c71.add(x).max(floor); c72 = c72.add(x).max(floor);
        }
        c00.intoArray(out, o); c01.intoArray(out, o + L); c02.intoArray(out, o + 2 * L);
        c10.intoArray(out, o + ldc); c11.intoArray(out, o + ldc + L); c12.intoArray(out, o + ldc + 2 * L);
        c20.intoArray(out, o + 2 * ldc); c21.intoArray(out, o + 2 * ldc + L); c22.intoArray(out, o + 2 * ldc + 2 * L);
        c30.intoArray(out, o + 3 * ldc); c31.intoArray(out, o + 3 * ldc + L); c32.intoArray(out, o + 3 * ldc + 2 * L);
        c40.intoArray(out, o + 4 * ldc); c41.intoArray(out, o + 4 * ldc + L); c42.intoArray(out, o + 4 * ldc + 2 * L);
        c50.intoArray(out, o + 5 * ldc); c51.intoArray(out, o + 5 * ldc + L); c52.intoArray(out, o + 5 * ldc + 2 * L);
        c60.intoArray(out, o + 6 * ldc); c61.intoArray(out, o + 6 * ldc + L); c62.intoArray(out, o + 6 * ldc + 2 * L);
        c70.intoArray(out, o + 7 * ldc); c71.intoArray(out, o + 7 * ldc + L); c72.intoArray(out, o + 7 * ldc + 2 * L);
    }

    /**
     * One 8 x L tile, as {@link #tile} for a single vector of outputs (the same operations per
     * output, so the same bits). GemmTiles.tileKernel8Narrow has the same k loop but steps B by a
     * fixed stride; here each tap's row is found through the shift table.
     */
    static void tileOne(float[] ap, int ao, float[] q, int col, int[] shift, int kc, float[] out, int o, int ldc, boolean epilogue,
                        float[] add, int bo, boolean relu) {
        FloatVector z = FloatVector.zero(F);
        FloatVector c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z, c6 = z, c7 = z;
        for (int t = 0, ai = ao; t < kc; t++, ai += ROWS) {
            FloatVector b = FloatVector.fromArray(F, q, col + shift[t]);
            c0 = FloatVector.broadcast(F, ap[ai]).fma(b, c0);
            c1 = FloatVector.broadcast(F, ap[ai + 1]).fma(b, c1);
            c2 = FloatVector.broadcast(F, ap[ai + 2]).fma(b, c2);
            c3 = FloatVector.broadcast(F, ap[ai + 3]).fma(b, c3);
            c4 = FloatVector.broadcast(F, ap[ai + 4]).fma(b, c4);
            c5 = FloatVector.broadcast(F, ap[ai + 5]).fma(b, c5);
            c6 = FloatVector.broadcast(F, ap[ai + 6]).fma(b, c6);
            c7 = FloatVector.broadcast(F, ap[ai + 7]).fma(b, c7);
        }
        if (epilogue) {
            FloatVector floor = FloatVector.broadcast(F, relu ? 0f : Float.NEGATIVE_INFINITY);
            c0 = c0.add(FloatVector.broadcast(F, add[bo])).max(floor);
            c1 = c1.add(FloatVector.broadcast(F, add[bo + 1])).max(floor);
            c2 = c2.add(FloatVector.broadcast(F, add[bo + 2])).max(floor);
            c3 = c3.add(FloatVector.broadcast(F, add[bo + 3])).max(floor);
            c4 = c4.add(FloatVector.broadcast(F, add[bo + 4])).max(floor);
            c5 = c5.add(FloatVector.broadcast(F, add[bo + 5])).max(floor);
            c6 = c6.add(FloatVector.broadcast(F, add[bo + 6])).max(floor);
            c7 = c7.add(FloatVector.broadcast(F, add[bo + 7])).max(floor);
        }
        c0.intoArray(out, o); c1.intoArray(out, o + ldc); c2.intoArray(out, o + 2 * ldc); c3.intoArray(out, o + 3 * ldc);
        c4.intoArray(out, o + 4 * ldc); c5.intoArray(out, o + 5 * ldc); c6.intoArray(out, o + 6 * ldc); c7.intoArray(out, o + 7 * ldc);
    }
}
