package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * conv2d forward with stride 1 and dilation 1 as an implicit GEMM, without an im2col matrix.
 * Each input plane is copied once into a zero-padded plane P (Hp x Wp). Computing Wp output
 * columns per output row (the last Wp - OW are discarded), the im2col row of kernel tap
 * (c, i, j) is P itself shifted by c Hp Wp + i Wp + j, so the micro-kernel reads its B vectors
 * straight from P through a table of shifts. Measured reason: im2col took ~40% of the forward
 * time of a 3x3 64->64 14x14 layer (25-30 ms of ~65 ms for 128 images on one thread).
 * The weights are packed once per call, shared by all images; tasks are (image, group).
 */
final class ImplicitConv {
    private static final int MR = Gemm.MR, NR = Gemm.NR;

    private ImplicitConv() {}

    static boolean applies(ConvGeom g) {
        return g.sh() == 1 && g.sw() == 1 && g.dh() == 1 && g.dw() == 1 && g.n() * g.groups() >= Parallel.threads();
    }

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0]});

    /** Row starts of the implicit im2col matrix in P: tap (c, i, j) at c Hp Wp + i Wp + j. */
    private static int[] shifts(ConvGeom g, int wp, int plane) {
        int[] shift = new int[g.crs()];
        for (int c = 0; c < g.cg(); c++)
            for (int i = 0; i < g.r(); i++)
                for (int j = 0; j < g.s(); j++) shift[(c * g.r() + i) * g.s() + j] = c * plane + i * wp + j;
        return shift;
    }

    /** Floats P needs: the planes, plus the reads past the last plane (up to a padded panel and the largest tap). */
    private static int planesSize(ConvGeom g, int wp, int plane, int cols) {
        int colsPadded = (cols + NR - 1) / NR * NR;
        return g.cg() * plane + colsPadded + g.r() * wp + g.s();
    }

    /** P = the cg input planes of (image, group) at src, zero-padded to Hp x Wp, then zeros to size. */
    private static void paddedPlanes(float[] in, int src, ConvGeom g, int wp, int plane, float[] p, int size) {
        java.util.Arrays.fill(p, 0, size, 0f);
        for (int ch = 0; ch < g.cg(); ch++)
            for (int y = 0; y < g.h(); y++)
                System.arraycopy(in, src + (ch * g.h() + y) * g.w(), p, ch * plane + (y + g.ph()) * wp + g.pw(), g.w());
    }

    /** The weight gradient takes the same route: stride and dilation 1. */
    static boolean appliesToWeights(ConvGeom g) {
        return g.sh() == 1 && g.sw() == 1 && g.dh() == 1 && g.dw() == 1;
    }

    /**
     * dW_g^T (crs x kg, overwritten in tmp) of one image and group: the implicit im2col matrix
     * (rows of P, Wp columns per output row) times dOut^T, where dOut is spread to Wp-wide rows
     * with zeros in the Wp - OW columns that have no output.
     */
    static void weightGradientOfImage(float[] dOut, int dOff, float[] in, int inOff, ConvGeom g, int n, int grp, float[] tmp) {
        int kg = g.kg(), crs = g.crs();
        int hp = g.h() + 2 * g.ph(), wp = g.w() + 2 * g.pw(), plane = hp * wp, cols = g.oh() * wp;
        int pSize = planesSize(g, wp, plane, cols);
        float[][] scratch = SCRATCH.get();
        if (scratch[0].length < pSize) scratch[0] = new float[pSize];
        if (scratch[1].length < kg * cols) scratch[1] = new float[kg * cols];
        float[] p = scratch[0], d = scratch[1];
        paddedPlanes(in, inOff + (n * g.c() + grp * g.cg()) * g.h() * g.w(), g, wp, plane, p, pSize);
        java.util.Arrays.fill(d, 0, kg * cols, 0f);
        for (int k = 0; k < kg; k++)
            for (int y = 0; y < g.oh(); y++)
                System.arraycopy(dOut, dOff + ((n * g.k() + grp * kg + k) * g.oh() + y) * g.ow(), d, k * cols + y * wp, g.ow());
        Gemm.sgemmRows(crs, kg, cols, p, 0, shifts(g, wp, plane), d, 0, true, cols, tmp, 0, kg);
    }

    static void forward(float[] out, float[] in, int inOff, float[] w, int wOff, float[] bias, int bOff, ConvGeom g, boolean relu) {
        int groups = g.groups(), kg = g.kg(), cg = g.cg(), crs = g.crs();
        int hp = g.h() + 2 * g.ph(), wp = g.w() + 2 * g.pw(), plane = hp * wp;
        int cols = g.oh() * wp, colsPadded = (cols + NR - 1) / NR * NR;
        int rowBlocks = (kg + MR - 1) / MR, kc = Gemm.kBlock(crs);
        int[] shift = shifts(g, wp, plane); // B's rows are P shifted
        int pSize = planesSize(g, wp, plane, cols);
        // Weights packed once: for each group, k block and row block, MR x kc micro-panels.
        int kBlocks = (crs + kc - 1) / kc;
        int groupStride = rowBlocks * MR * crs;
        float[] ap = new float[groups * groupStride];
        for (int grp = 0; grp < groups; grp++)
            for (int pc = 0; pc < crs; pc += kc) {
                int kcb = Math.min(kc, crs - pc);
                for (int rb = 0; rb < rowBlocks; rb++)
                    Gemm.packA(w, wOff + grp * kg * crs, false, crs, null, rb * MR, Math.min(MR, kg - rb * MR), pc, kcb, ap,
                            grp * groupStride + pc * rowBlocks * MR + rb * kcb * MR);
            }
        int hw = g.h() * g.w(), ohw = g.ohw();
        Parallel.forEach(g.n() * groups, t -> {
            int n = t / groups, grp = t % groups;
            float[][] scratch = SCRATCH.get();
            if (scratch[0].length < pSize) scratch[0] = new float[pSize];
            if (scratch[1].length < rowBlocks * MR * colsPadded) scratch[1] = new float[rowBlocks * MR * colsPadded];
            float[] p = scratch[0], c = scratch[1];
            paddedPlanes(in, inOff + (n * g.c() + grp * cg) * hw, g, wp, plane, p, pSize);
            for (int pc = 0; pc < crs; pc += kc) {
                int kcb = Math.min(kc, crs - pc);
                boolean acc = pc > 0;
                for (int col = 0; col < colsPadded; col += NR)
                    sweep(ap, grp * groupStride + pc * rowBlocks * MR, rowBlocks, p, shift, pc, kcb, col, c, colsPadded, acc);
            }
            for (int k = 0; k < kg; k++)
                keepValidColumns(c, k * colsPadded, wp, out, (n * g.k() + grp * kg + k) * ohw, g.oh(), g.ow(),
                        bias == null ? 0f : bias[bOff + grp * kg + k], relu);
        });
    }

    /**
     * out[to + y OW + x] = c[from + y Wp + x] + bias (with relu clamped at 0) for the OW valid
     * columns of each Wp-wide row, whole vectors and a masked last one per row. The scalar loop
     * it replaces cost ~1 cycle per output: for a 5x5 1->32 layer (25 multiply-adds per output)
     * that was as long as the GEMM's own work.
     */
    private static void keepValidColumns(float[] c, int from, int wp, float[] out, int to, int oh, int ow, float bias, boolean relu) {
        FloatVector b = FloatVector.broadcast(F, bias), floor = FloatVector.broadcast(F, relu ? 0f : Float.NEGATIVE_INFINITY);
        int full = ow / L * L;
        VectorMask<Float> tail = F.indexInRange(full, ow);
        for (int y = 0; y < oh; y++, from += wp, to += ow) {
            for (int x = 0; x < full; x += L) FloatVector.fromArray(F, c, from + x).add(b).max(floor).intoArray(out, to + x);
            if (full < ow) FloatVector.fromArray(F, c, from + full).add(b).max(floor).intoArray(out, to + full, tail);
        }
    }

    /**
     * Gemm's micro-kernel down all row blocks for the NR columns at col, with B rows read from P
     * at shift[pc + q] + col; C row block rb at c[rb MR ldc + col]. Kept apart from Gemm's so
     * that the plain GEMM's hot loop pays no table lookup; over 325 bytes of bytecode so that C2
     * always compiles it on its own (see Gemm.sweep for what inlining it cost).
     */
    private static void sweep(float[] ap, int ao, int rowBlocks, float[] p, int[] shift, int pc, int kc, int col, float[] c, int ldc,
                              boolean acc) {
        for (int rb = 0; rb < rowBlocks; rb++) {
            int co = rb * MR * ldc + col;
            FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            for (int q = 0, ai = ao + rb * kc * MR; q < kc; q++, ai += MR) {
                int bo = shift[pc + q] + col;
                FloatVector b0 = FloatVector.fromArray(F, p, bo);
                FloatVector b1 = FloatVector.fromArray(F, p, bo + L);
                FloatVector x = FloatVector.broadcast(F, ap[ai]);
                c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
                x = FloatVector.broadcast(F, ap[ai + 1]);
                c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
                x = FloatVector.broadcast(F, ap[ai + 2]);
                c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
                x = FloatVector.broadcast(F, ap[ai + 3]);
                c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            }
            Gemm.store(c, co, acc, c00, c01);
            Gemm.store(c, co + ldc, acc, c10, c11);
            Gemm.store(c, co + 2 * ldc, acc, c20, c21);
            Gemm.store(c, co + 3 * ldc, acc, c30, c31);
        }
    }
}
