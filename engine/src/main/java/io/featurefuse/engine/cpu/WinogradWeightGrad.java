package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;
import static io.featurefuse.engine.cpu.WinogradConv.ld;
import static io.featurefuse.engine.cpu.WinogradConv.roundUp;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * conv2d's weight gradient for the layers {@link WinogradConv} runs forward as F(2x2, 3x3), in
 * that domain. Per tile the forward adds Y = A^T (U * V) A with U = G g G^T, so
 * dL/dU = sum over tiles of (A dY A^T) * V, a 4x4 per (k, c), and dL/dg = G^T (dL/dU) G.
 * That is 16 GEMMs dU_xi (C x K) = V_xi (C x tiles) . M_xi^T (tiles x K), M = A dY A^T,
 * summed over the tiles of all images: 16 multiply-adds per (k, c) and 4 outputs instead of 36.
 *
 * <p>V is the forward's input transform, one tile per lane, and the GEMM reads its rows in place
 * (A operand of {@link GemmTiles#sweepRows}). M is made with lanes over output channels instead,
 * from dY rearranged to (tile, parity, channel) order, and written straight into the GEMM's
 * packed B layout, so neither operand is transposed after its transform. Tiles the forward
 * computes and drops (the extra column, half tiles past an odd edge) get dY = 0 and add nothing.
 *
 * <p>Measured against the implicit-GEMM weight gradient it replaces (same JVM, alternating, 2
 * threads, b128, GFLOP/s of the direct count): 64->64 14x14 ~72-80 -> ~87-93, 32->32 28x28
 * ~74-79 -> ~81-91. Far from the 2.25x fewer multiply-adds: the GEMMs are half the time, the rest
 * is the transforms, the scalar rearrangement of dY (a transpose) and tiles the layout wastes
 * (64 computed per 49 real on 14x14, with 16-float vectors; now 56: the tiles past cols, the
 * rounding to whole vectors and panels, are left out of the transforms and the product).
 */
final class WinogradWeightGrad {
    private static final int NR = Gemm.NR;
    /**
     * Tiles per step at most (a multiple of NR), and floats of V and M together per step at most
     * (half of a Zen 4 core's 1 MB L2): the transforms write them, then the 16 GEMMs read them.
     */
    private static final int MAX_TILES = 256, STEP_FLOATS = 1 << 17, LS = Simd.LINE_START;
    /**
     * V and M's xi blocks skewed as in the forward ({@link WinogradConv#SKEW}): here blocks of 64 x 64
     * floats. Measured (64->64 14x14 b128, 2 threads, one JVM): the transforms' share of the time fell
     * from ~28% to ~10% of samples, the weight gradient went from ~1.0x to ~1.2x the direct one.
     */
    private static final int SKEW = WinogradConv.SKEW;

    private WinogradWeightGrad() {}

    /** Floats of one chunk's partial sums: per group and xi, dU_xi as C rows of K (padded to NR) columns. */
    static int partialSize(ConvGeom g) {
        return g.groups() * 16 * g.cg() * roundUp(g.kg(), NR);
    }

    /** Per thread: parity planes, dY by (tile, parity, channel), V, packed M, a partial tile, B^T d. */
    private static final ThreadLocal<float[][]> SCRATCH =
            ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0], new float[0], new float[0], new float[Gemm.MR * NR], new float[16 * L]});

    /**
     * dU of group grp summed over images [n0, n1) into sums[at..], laid out as {@link #partialSize}
     * describes for one group (overwritten by the first image). Sums run in a fixed order.
     */
    static void sumImages(float[] dOut, int dOff, float[] in, int inOff, ConvGeom g, int n0, int n1, int grp, float[] sums, int at) {
        WinogradConv.Tiles t = WinogradConv.Tiles.of(g);
        int cg = g.cg(), kg = g.kg(), kn = roundUp(kg, NR), tilesPadded = roundUp(t.perImage(), NR);
        int step = Math.min(tilesPadded, Math.max(NR, Math.min(MAX_TILES, STEP_FLOATS / (16 * (cg + kn)) / NR * NR))), plane4 = 4 * t.planeStride();
        float[][] scratch = SCRATCH.get();
        // the four buffers in one array, each from a cache line (see LineArrays); dy first, at LS (see dyRows)
        int pAt = LineArrays.after(LS, tilesPadded * 4 * kn), vAt = LineArrays.after(pAt, cg * plane4), mAt = LineArrays.after(vAt, 16 * (cg * step + SKEW));
        float[] dy = LineArrays.grow(scratch, 0, LineArrays.after(mAt, 16 * (step * kn + SKEW))), planes = dy, v = dy, m = dy;
        float[] tile = scratch[4], tb = scratch[5];
        int[] rows = dyRows(g, t, kn);
        for (int n = n0; n < n1; n++) {
            for (int c = 0; c < cg; c++)
                WinogradConv.parityPlanes(in, inOff + (n * g.c() + grp * cg + c) * g.h() * g.w(), g, t, planes, pAt + c * plane4);
            java.util.Arrays.fill(dy, LS, LS + tilesPadded * 4 * kn, 0f);
            transposeChannels(dOut, dOff + (n * g.k() + grp * kg) * g.ohw(), g.ohw(), kg, rows, dy);
            for (int q0 = 0; q0 < tilesPadded; q0 += step) {
                int kc = Math.min(step, tilesPadded - q0), vStride = cg * kc + SKEW, mStride = kc * kn + SKEW;
                // the product's depth: the tiles past cols (padding to whole vectors and panels) have dY = 0 and
                // add nothing, so neither transform makes them; a piece's last vector, stored whole, stays in its panel.
                // Every step has some: tilesPadded - cols <= (L - 1) + (NR - L) < NR, and a step is NR or more
                int depth = Math.min(kc, t.cols() - q0);
                for (int col = q0; col < q0 + depth; col += NR) {
                    int width = Math.min(NR, t.cols() - col);
                    for (int c = 0; c < cg; c++)
                        WinogradConv.transformInput(planes, pAt + c * plane4, t, col, width, width, v, vAt + c * kc + col - q0, vStride, tb);
                }
                transformGradient(dy, q0, depth, kc, kn, m, mAt, mStride);
                boolean acc = n > n0 || q0 > 0;
                for (int xi = 0; xi < 16; xi++)
                    for (int kp = 0; kp < kn; kp += NR)
                        GemmTiles.sweepRows(v, vAt + xi * vStride, kc, null, 0, 0, cg, m, mAt + xi * mStride + kp * kc, depth,
                                sums, at + xi * cg * kn + kp, kn, NR, acc, tile);
            }
        }
    }

    /**
     * Where dY goes in dy (from LS), made once per call: output y OW + x of channel k to dy[rows[y OW + x] + k],
     * so that dy[LS + (q 4 + 2 a + b) kn + k] = dY[k][2 ty + a][2 tx + b] for tile q = ty TW + tx (the
     * rest of dy, outputs that do not exist and channels k >= kg, is zeroed per image).
     */
    private static int[] dyRows(ConvGeom g, WinogradConv.Tiles t, int kn) {
        int oh = g.oh(), ow = g.ow(), tw = t.tw();
        int[] rows = new int[oh * ow];
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) rows[y * ow + x] = LS + ((y >> 1) * tw * 4 + (y & 1) * 2 + (x >> 1) * 4 + (x & 1)) * kn;
        return rows;
    }

    /**
     * dy[rows[at] + k] = dOut[src + k plane + at] for the kg planes of plane floats: eight
     * channels at a time in registers ({@link #eightChannels}), the rest with channels innermost
     * (the writes run along dy's rows, and the lines a row band reads stay in L1 for the next
     * output; channel-outer, writes kn floats apart across an L2-sized dy, took ~7.6% of a 32->32
     * 28x28 b128 fwd+bwd against ~4.7%, when all channels went that way).
     */
    static void transposeChannels(float[] dOut, int src, int plane, int kg, int[] rows, float[] dy) {
        int k = 0;
        if (L >= 8) for (; k + 8 <= kg; k += 8) eightChannels(dOut, src + k * plane, plane, rows, dy, k);
        for (int at = 0; at < plane; at++)
            for (int c = k; c < kg; c++) dy[rows[at] + c] = dOut[src + at + c * plane];
    }

    /**
     * dy[rows[at] + k0 + r] = dOut[s + r plane + at] for the eight channels r < 8 and every output
     * at < plane: an 8 x L block per step transposed in registers by PackedB.transposeEight's zips,
     * each output vector's lanes h .. h + 7 (one output) stored under a mask at that output's row;
     * the outputs past the last whole vector one by one. Element by element (eight loads from
     * eight planes per output) this was ~15% of a 64->64 14x14 b128 weight gradient's samples.
     */
    private static void eightChannels(float[] dOut, int s, int plane, int[] rows, float[] dy, int k0) {
        int at = 0, step = L / 8; // output vector m holds outputs at + m L / 8 ..
        for (; at + L <= plane; at += L) {
            FloatVector r0 = ld(dOut, s + at), r4 = ld(dOut, s + 4 * plane + at);
            FloatVector r1 = ld(dOut, s + plane + at), r5 = ld(dOut, s + 5 * plane + at);
            FloatVector r2 = ld(dOut, s + 2 * plane + at), r6 = ld(dOut, s + 6 * plane + at);
            FloatVector r3 = ld(dOut, s + 3 * plane + at), r7 = ld(dOut, s + 7 * plane + at);
            FloatVector y0 = r0.rearrange(Simd.ZIP_LO, r4), y1 = r1.rearrange(Simd.ZIP_LO, r5);
            FloatVector y2 = r2.rearrange(Simd.ZIP_LO, r6), y3 = r3.rearrange(Simd.ZIP_LO, r7);
            FloatVector lo02 = y0.rearrange(Simd.ZIP_LO, y2), hi02 = y0.rearrange(Simd.ZIP_HI, y2);
            FloatVector lo13 = y1.rearrange(Simd.ZIP_LO, y3), hi13 = y1.rearrange(Simd.ZIP_HI, y3);
            FloatVector v0 = lo02.rearrange(Simd.ZIP_LO, lo13), v1 = lo02.rearrange(Simd.ZIP_HI, lo13);
            FloatVector v2 = hi02.rearrange(Simd.ZIP_LO, hi13), v3 = hi02.rearrange(Simd.ZIP_HI, hi13);
            y0 = r0.rearrange(Simd.ZIP_HI, r4);
            y1 = r1.rearrange(Simd.ZIP_HI, r5);
            y2 = r2.rearrange(Simd.ZIP_HI, r6);
            y3 = r3.rearrange(Simd.ZIP_HI, r7);
            lo02 = y0.rearrange(Simd.ZIP_LO, y2);
            hi02 = y0.rearrange(Simd.ZIP_HI, y2);
            lo13 = y1.rearrange(Simd.ZIP_LO, y3);
            hi13 = y1.rearrange(Simd.ZIP_HI, y3);
            FloatVector v4 = lo02.rearrange(Simd.ZIP_LO, lo13), v5 = lo02.rearrange(Simd.ZIP_HI, lo13);
            FloatVector v6 = hi02.rearrange(Simd.ZIP_LO, hi13), v7 = hi02.rearrange(Simd.ZIP_HI, hi13);
            for (int h = 0; h < L; h += 8) {
                VectorMask<Float> eight = VectorMask.fromLong(F, 0xFFL << h);
                int o = at + h / 8, d = k0 - h; // lane h + r of output vector m goes to dy[rows[o + m step] + k0 + r]
                v0.intoArray(dy, rows[o] + d, eight);
                v1.intoArray(dy, rows[o + step] + d, eight);
                v2.intoArray(dy, rows[o + 2 * step] + d, eight);
                v3.intoArray(dy, rows[o + 3 * step] + d, eight);
                v4.intoArray(dy, rows[o + 4 * step] + d, eight);
                v5.intoArray(dy, rows[o + 5 * step] + d, eight);
                v6.intoArray(dy, rows[o + 6 * step] + d, eight);
                v7.intoArray(dy, rows[o + 7 * step] + d, eight);
            }
        }
        for (; at < plane; at++)
            for (int r = 0; r < 8; r++) dy[rows[at] + k0 + r] = dOut[s + r * plane + at];
    }

    /**
     * M = A dY A^T (A = [1 0; 1 1; 1 -1; 0 -1]) for tiles [q0, q0 + kc), L output channels per
     * vector, into the packed B layout of each M_xi (kc x kn, panels of NR channels): element
     * (tile p, channel k) of M_xi at m[m0 + xi s + (k / NR) kc NR + p NR + k % NR]. The rows of
     * A dY are d0, d0 + d1, d0 - d1, -d1, and each row r gives (r0, r0 + r1, r0 - r1, -r1). The
     * sixteen stores are spelled out: a helper taking vectors made this method small enough for
     * C2 to inline into sumImages, where it risks boxing them (see KernelInliningTest).
     */
    private static void transformGradient(float[] dy, int q0, int count, int kc, int kn, float[] m, int m0, int s) {
        for (int p = 0; p < count; p++)
            for (int k = 0; k < kn; k += L) {
                int src = LS + (q0 + p) * 4 * kn + k, o = m0 + (k / NR) * kc * NR + p * NR + k % NR;
                FloatVector d00 = ld(dy, src), d01 = ld(dy, src + kn), d10 = ld(dy, src + 2 * kn), d11 = ld(dy, src + 3 * kn);
                d00.intoArray(m, o);
                d00.add(d01).intoArray(m, o + s);
                d00.sub(d01).intoArray(m, o + 2 * s);
                d01.neg().intoArray(m, o + 3 * s);
                FloatVector r0 = d00.add(d10), r1 = d01.add(d11);
                r0.intoArray(m, o + 4 * s);
                r0.add(r1).intoArray(m, o + 5 * s);
                r0.sub(r1).intoArray(m, o + 6 * s);
                r1.neg().intoArray(m, o + 7 * s);
                r0 = d00.sub(d10);
                r1 = d01.sub(d11);
                r0.intoArray(m, o + 8 * s);
                r0.add(r1).intoArray(m, o + 9 * s);
                r0.sub(r1).intoArray(m, o + 10 * s);
                r1.neg().intoArray(m, o + 11 * s);
                d10.neg().intoArray(m, o + 12 * s);
                d11.add(d10).neg().intoArray(m, o + 13 * s);
                d11.sub(d10).intoArray(m, o + 14 * s);
                d11.intoArray(m, o + 15 * s);
            }
    }

    /** dW (K, C/g, 3, 3) = G^T dU G per (k, c) from the summed dU at sums[at..] (G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]), in float64. */
    static void toWeights(float[] sums, int at, ConvGeom g, float[] dW) {
        int cg = g.cg(), kg = g.kg(), kn = roundUp(kg, NR), xiStride = cg * kn;
        double[] gu = new double[12];
        for (int grp = 0; grp < g.groups(); grp++)
            for (int k = 0; k < kg; k++)
                for (int c = 0; c < cg; c++) {
                    int src = at + grp * 16 * xiStride + c * kn + k, dst = ((grp * kg + k) * cg + c) * 9;
                    for (int j = 0; j < 4; j++) { // G^T dU: rows (u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3) per column j
                        double u0 = sums[src + j * xiStride], u1 = sums[src + (4 + j) * xiStride];
                        double u2 = sums[src + (8 + j) * xiStride], u3 = sums[src + (12 + j) * xiStride];
                        gu[j] = u0 + 0.5 * (u1 + u2);
                        gu[4 + j] = 0.5 * (u1 - u2);
                        gu[8 + j] = 0.5 * (u1 + u2) + u3;
                    }
                    for (int r = 0; r < 3; r++) { // (G^T dU) G: the same combination along each row
                        double u0 = gu[4 * r], u1 = gu[4 * r + 1], u2 = gu[4 * r + 2], u3 = gu[4 * r + 3];
                        dW[dst + 3 * r] = (float) (u0 + 0.5 * (u1 + u2));
                        dW[dst + 3 * r + 1] = (float) (0.5 * (u1 - u2));
                        dW[dst + 3 * r + 2] = (float) (0.5 * (u1 + u2) + u3);
                    }
                }
    }
}
