package io.featurefuse.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The one place that picks the float vector species. Defaults to the widest the CPU runs well
 * ({@code SPECIES_PREFERRED}); {@code -Dfeaturefuse.simd.bits=128|256|512} overrides it, e.g.
 * to study a narrower width on a wide machine. Every kernel loops with {@code F.length()}.
 *
 * <p>F is the only float species the engine uses, and int vectors take its shape: the Vector
 * API's shared code keeps one type profile for all species, and with a second one in it C2 now
 * and then compiled a kernel whose vectors it could no longer type exactly, and boxed them all
 * (see KernelInliningTest.onlySimdNamesAVectorSpecies).
 */
public final class Simd {
    public static final VectorSpecies<Float> F = chooseSpecies();
    /** Lanes per float vector. */
    public static final int L = F.length();

    /** Lane i: element 2 i (EVEN) or 2 i + 1 (ODD) of a pair of vectors a.rearrange(UNZIP_EVEN, b), b's lanes counted as L .. 2 L - 1. */
    public static final VectorShuffle<Float> UNZIP_EVEN = VectorShuffle.fromOp(F, i -> 2 * i);
    public static final VectorShuffle<Float> UNZIP_ODD = VectorShuffle.fromOp(F, i -> 2 * i + 1);
    /** Lane i of the pair (a, b) zipped, a.rearrange(ZIP_LO, b): even i from a[i / 2], odd i from b[i / 2]; ZIP_HI the same from the upper halves. */
    public static final VectorShuffle<Float> ZIP_LO = VectorShuffle.fromOp(F, i -> (i & 1) == 0 ? i / 2 : L + i / 2);
    public static final VectorShuffle<Float> ZIP_HI = VectorShuffle.fromOp(F, i -> (i & 1) == 0 ? L / 2 + i / 2 : L + L / 2 + i / 2);

    /**
     * The index at which a large float[] presumably starts a 64-byte cache line: G1, the default
     * collector, puts an array of half a region or more (512 KB with 1 MB regions, as at fuse's
     * 600 MB heap) at a region boundary, and the default array header is 16 bytes, so element 12
     * is the first on a line. Checked here (addresses read through sun.misc.Unsafe in a throwaway
     * probe, arrays of 1.2 to 64 MB, heaps of 2 and 8 GB): every such array's data lay 16 bytes
     * past a line. Buffers the engine allocates for hot vector loads start their data at this
     * index, so that a vector load reads one line, not two; {@link LineArrays} makes smaller
     * scratch arrays long enough to be placed so too. For another collector or header layout the
     * placement is unknown and this index is as good as any other.
     */
    public static final int LINE_START = 12;

    private Simd() {}

    private static VectorSpecies<Float> chooseSpecies() {
        String bits = System.getProperty("featurefuse.simd.bits");
        if (bits == null || bits.isBlank()) return FloatVector.SPECIES_PREFERRED;
        return switch (bits.trim()) {
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> throw new IllegalArgumentException(
                    "featurefuse.simd.bits must be 128, 256 or 512, not '" + bits + "'");
        };
    }

    /**
     * The sum of v's lanes in a fixed order: the upper half of the lanes added onto the lower, then
     * the upper half of those, down to lane 0 (log2 L adds). FloatVector.reduceLanes(ADD) leaves
     * the order open, and the JIT-compiled order differs from the interpreter's, so one input could
     * sum to two values within one run (seen: batch-norm statistics changed bits once C2 compiled
     * them, breaking bit-for-bit repeatable training); these folds are the same float adds in every
     * mode. The lane-by-lane sum it replaces was a chain of 16 dependent adds and lane extracts,
     * ~100 cycles, which the per-plane sums of batch norm paid twice a plane: BN + ReLU + global
     * pool of 128x14x14 b128 (training, 2 threads, medians) forward 1.59-1.71 -> 1.37-1.43 ms,
     * backward 2.22-2.27 -> 1.82-1.92.
     */
    public static float sumLanes(FloatVector v) {
        // At most 35 bytes of bytecode (KernelInliningTest): C2 inlines a larger callee only where
        // the call is frequent, and a vector passed to a call left out of line is boxed.
        int k = 0;
        do v = v.add(v.rearrange(FOLDS[k])); while (++k < FOLDS.length);
        return v.lane(0);
    }

    /** Lane i from lane i + L/2, then i + L/4, ... i + 1 (mod L): each fold adds the upper half of what is left onto the lower; one at least (L >= 2). */
    private static final VectorShuffle<Float>[] FOLDS = folds();

    @SuppressWarnings("unchecked")
    private static VectorShuffle<Float>[] folds() {
        int n = Integer.numberOfTrailingZeros(L);
        VectorShuffle<Float>[] folds = new VectorShuffle[n];
        for (int k = 0; k < n; k++) {
            int step = L >> (k + 1);
            folds[k] = VectorShuffle.fromOp(F, i -> (i + step) % L);
        }
        return folds;
    }

    /** A one-line description for logs and benchmark headers, e.g. "float x8 (256-bit)". */
    public static String describe() {
        return "float x" + L + " (" + F.vectorBitSize() + "-bit)";
    }
}
