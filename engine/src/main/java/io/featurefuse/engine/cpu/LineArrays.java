package io.featurefuse.engine.cpu;

/**
 * Scratch arrays whose index {@link Simd#LINE_START} begins a 64-byte cache line, so that vector
 * loads and stores at LINE_START + a multiple of 16 read and write one line each, not two. A
 * kernel's thread-local scratch (Winograd's V, M and phase planes, the weight gradients' partial
 * sums) is a few hundred KB, held in L2 and read over and over; an ordinary array of that size
 * lands wherever the allocator left off, so its vectors straddle lines at random. Measured, a
 * 512-bit load + FMA + store stream over 128 KB: 2.4-2.8 ns a vector straddling, 1.7-1.8 ns on
 * lines (in L1, 16 KB: 1.6 either way); 3x3 32->32 28x28 b128 weight gradient, 2 threads: 7.1-7.5
 * -> 6.2-6.4 ms with its buffers on lines.
 *
 * <p>G1 puts an array of half a region or more at the start of a region, and its data 16 bytes
 * on (see Simd.LINE_START), so {@link #of} makes every array at least that long. Where that would
 * waste too much (regions over 2 MB: G1 picked 4 MB for the JVM's default 6 GB heap on a 24 GB
 * machine and 32 MB for 64 GB; fuse's 600 MB heap and the tests' 2 GB have 1 MB, the JMH
 * benchmarks' 4 GB 2 MB) or the collector is not G1, arrays keep their own length and their
 * placement is left to chance, as before.
 */
final class LineArrays {
    /** Arrays of up to 1 MB are inflated to a humongous size; larger half-regions are not worth it. */
    private static final long MAX_INFLATED_BYTES = 1 << 20;

    private LineArrays() {}

    /** The length from which G1 allocates a float[] as humongous, when at most MAX_INFLATED_BYTES; else 0. Read once. */
    private static final class Humongous {
        static final int FLOATS = floats();

        private static int floats() {
            try {
                var vm = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
                if (!Boolean.parseBoolean(vm.getVMOption("UseG1GC").getValue())) return 0;
                long half = Long.parseLong(vm.getVMOption("G1HeapRegionSize").getValue()) / 2;
                return half > 0 && half <= MAX_INFLATED_BYTES ? (int) (half / Float.BYTES) : 0;
            } catch (RuntimeException | LinkageError e) { // no jdk.management, or an option renamed: placement left to chance
                return 0;
            }
        }
    }

    /** The humongous threshold in floats this JVM uses for {@link #of}, 0 where arrays are not inflated. */
    static int humongousFloats() {
        return Humongous.FLOATS;
    }

    /** Whether G1 placed {@code a} at a region start, so that its index Simd.LINE_START begins a line: an array of the humongous length or more. */
    static boolean placedOnLines(float[] a) {
        return Humongous.FLOATS > 0 && a.length >= Humongous.FLOATS;
    }

    /** A zeroed array holding {@code floats} floats from index Simd.LINE_START, inflated to a humongous length where that places it on a line. */
    static float[] of(int floats) {
        long length = (long) Simd.LINE_START + floats;
        if (length > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("scratch buffer of " + floats + " floats is too large");
        return new float[(int) Math.max(length, Humongous.FLOATS)];
    }

    /**
     * Where the buffer after one at {@code at} of {@code size} floats starts when a kernel keeps
     * several in one array: the next line. One array a kernel, not one a buffer: each inflated
     * array takes a G1 region (1 MB under fuse) of its own, and with an array a buffer the
     * reference training step's Winograd and implicit-GEMM kernels made 41 of them on two threads.
     */
    static int after(int at, int size) {
        int end = at - Simd.LINE_START + size;
        return Simd.LINE_START + (end + 15) / 16 * 16;
    }

    /** scratch[slot] grown (replaced, contents dropped) until it holds size floats from Simd.LINE_START; see {@link #of}. */
    static float[] grow(float[][] scratch, int slot, int size) {
        if (scratch[slot].length < (long) Simd.LINE_START + size) scratch[slot] = of(size);
        return scratch[slot];
    }
}
