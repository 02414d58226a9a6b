package io.featurefuse.engine.cpu;

import static io.featurefuse.engine.cpu.Gemm.MR;
import static io.featurefuse.engine.cpu.Simd.F;
import static io.featurefuse.engine.cpu.Simd.L;

import jdk.incubator.vector.FloatVector;

/**
 * Op(A) in {@link Gemm}'s packed layout: for each row block of MR rows, one MR x kc micro-panel
 * per k block, column p's MR values adjacent, so that a tile broadcasts them one after another
 * (see GemmTiles). Rows past the matrix are zero.
 */
final class PackedA {
    private PackedA() {}

    /** ap[at + p*MR + r] = op(A)[i+r][pc+p], zero for rows r >= mr; row i of a plain A starts at rowStarts[i] when given, else i lda. */
    static void pack(float[] a, int aOff, boolean transA, int lda, int[] rowStarts, int i, int mr, int pc, int kc, float[] ap, int at) {
        if (mr < MR) java.util.Arrays.fill(ap, at, at + kc * MR, 0f);
        if (!transA && mr == MR && MR == 4) {
            packFourRows(a, rowStart(aOff, lda, rowStarts, i) + pc, rowStart(aOff, lda, rowStarts, i + 1) + pc,
                    rowStart(aOff, lda, rowStarts, i + 2) + pc, rowStart(aOff, lda, rowStarts, i + 3) + pc, kc, ap, at);
        } else if (!transA && mr == MR && MR == 8 && L >= 8) {
            packEightRows(a, aOff, lda, rowStarts, i, pc, kc, ap, at);
        } else if (!transA) {
            for (int r = 0; r < mr; r++) {
                int src = aOff + (rowStarts == null ? (i + r) * lda : rowStarts[i + r]) + pc;
                for (int p = 0; p < kc; p++) ap[at + p * MR + r] = a[src + p];
            }
        } else {
            for (int p = 0; p < kc; p++) {
                int src = aOff + (pc + p) * lda + i;
                for (int r = 0; r < mr; r++) ap[at + p * MR + r] = a[src + r];
            }
        }
    }

    /**
     * ap[at + p MR + r] = a[s_r + p] for the four rows s0..s3, p < kc: a 4 x L block of A per
     * step, transposed by two rounds of zips ((r0, r2) and (r1, r3), then those pairs), giving
     * L / 4 columns of four per output vector, in that order for any L >= 4.
     */
    private static void packFourRows(float[] a, int s0, int s1, int s2, int s3, int kc, float[] ap, int at) {
        int p = 0;
        if (L >= 4)
            for (; p + L <= kc; p += L) {
                FloatVector r0 = FloatVector.fromArray(F, a, s0 + p), r1 = FloatVector.fromArray(F, a, s1 + p);
                FloatVector r2 = FloatVector.fromArray(F, a, s2 + p), r3 = FloatVector.fromArray(F, a, s3 + p);
                FloatVector lo02 = r0.rearrange(Simd.ZIP_LO, r2), hi02 = r0.rearrange(Simd.ZIP_HI, r2);
                FloatVector lo13 = r1.rearrange(Simd.ZIP_LO, r3), hi13 = r1.rearrange(Simd.ZIP_HI, r3);
                int d = at + p * 4;
                lo02.rearrange(Simd.ZIP_LO, lo13).intoArray(ap, d);
                lo02.rearrange(Simd.ZIP_HI, lo13).intoArray(ap, d + L);
                hi02.rearrange(Simd.ZIP_LO, hi13).intoArray(ap, d + 2 * L);
                hi02.rearrange(Simd.ZIP_HI, hi13).intoArray(ap, d + 3 * L);
            }
        for (; p < kc; p++) {
            int d = at + p * 4;
            ap[d] = a[s0 + p];
            ap[d + 1] = a[s1 + p];
            ap[d + 2] = a[s2 + p];
            ap[d + 3] = a[s3 + p];
        }
    }

    /**
     * ap[at + p 8 + r] = a[s_r + p] for the eight rows s_r = rowStart(i + r) + pc, p < kc: an 8 x L block per step, transposed
     * by three rounds of zips (rows r and r + 4, then r and r + 2 of those, then neighbours), each
     * output vector L / 8 columns of eight, in order. Needs L >= 8.
     */
    private static void packEightRows(float[] a, int aOff, int lda, int[] rowStarts, int i, int pc, int kc, float[] ap, int at) {
        int s0 = rowStart(aOff, lda, rowStarts, i) + pc, s1 = rowStart(aOff, lda, rowStarts, i + 1) + pc;
        int s2 = rowStart(aOff, lda, rowStarts, i + 2) + pc, s3 = rowStart(aOff, lda, rowStarts, i + 3) + pc;
        int s4 = rowStart(aOff, lda, rowStarts, i + 4) + pc, s5 = rowStart(aOff, lda, rowStarts, i + 5) + pc;
        int s6 = rowStart(aOff, lda, rowStarts, i + 6) + pc, s7 = rowStart(aOff, lda, rowStarts, i + 7) + pc;
        int p = 0;
        for (; p + L <= kc; p += L) {
            FloatVector r0 = FloatVector.fromArray(F, a, s0 + p), r4 = FloatVector.fromArray(F, a, s4 + p);
            FloatVector r1 = FloatVector.fromArray(F, a, s1 + p), r5 = FloatVector.fromArray(F, a, s5 + p);
            FloatVector r2 = FloatVector.fromArray(F, a, s2 + p), r6 = FloatVector.fromArray(F, a, s6 + p);
            FloatVector r3 = FloatVector.fromArray(F, a, s3 + p), r7 = FloatVector.fromArray(F, a, s7 + p);
            FloatVector y0 = r0.rearrange(Simd.ZIP_LO, r4), y1 = r1.rearrange(Simd.ZIP_LO, r5);
            FloatVector y2 = r2.rearrange(Simd.ZIP_LO, r6), y3 = r3.rearrange(Simd.ZIP_LO, r7);
            int d = at + p * 8;
            FloatVector lo02 = y0.rearrange(Simd.ZIP_LO, y2), hi02 = y0.rearrange(Simd.ZIP_HI, y2);
            FloatVector lo13 = y1.rearrange(Simd.ZIP_LO, y3), hi13 = y1.rearrange(Simd.ZIP_HI, y3);
            lo02.rearrange(Simd.ZIP_LO, lo13).intoArray(ap, d);
            lo02.rearrange(Simd.ZIP_HI, lo13).intoArray(ap, d + L);
            hi02.rearrange(Simd.ZIP_LO, hi13).intoArray(ap, d + 2 * L);
            hi02.rearrange(Simd.ZIP_HI, hi13).intoArray(ap, d + 3 * L);
            y0 = r0.rearrange(Simd.ZIP_HI, r4); y1 = r1.rearrange(Simd.ZIP_HI, r5);
            y2 = r2.rearrange(Simd.ZIP_HI, r6); y3 = r3.rearrange(Simd.ZIP_HI, r7);
            d += 4 * L;
            lo02 = y0.rearrange(Simd.ZIP_LO, y2); hi02 = y0.rearrange(Simd.ZIP_HI, y2);
            lo13 = y1.rearrange(Simd.ZIP_LO, y3); hi13 = y1.rearrange(Simd.ZIP_HI, y3);
            lo02.rearrange(Simd.ZIP_LO, lo13).intoArray(ap, d);
            lo02.rearrange(Simd.ZIP_HI, lo13).intoArray(ap, d + L);
            hi02.rearrange(Simd.ZIP_LO, hi13).intoArray(ap, d + 2 * L);
            hi02.rearrange(Simd.ZIP_HI, hi13).intoArray(ap, d + 3 * L);
        }
        for (; p < kc; p++) {
            int d = at + p * 8;
            ap[d] = a[s0 + p];
            ap[d + 1] = a[s1 + p];
            ap[d + 2] = a[s2 + p];
            ap[d + 3] = a[s3 + p];
            ap[d + 4] = a[s4 + p];
            ap[d + 5] = a[s5 + p];
            ap[d + 6] = a[s6 + p];
            ap[d + 7] = a[s7 + p];
        }
    }

    static int rowStart(int aOff, int lda, int[] rowStarts, int i) {
        return aOff + (rowStarts == null ? i * lda : rowStarts[i]);
    }
}
