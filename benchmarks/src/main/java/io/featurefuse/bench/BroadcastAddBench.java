package io.featurefuse.bench;

import io.featurefuse.engine.Tensor;
import io.featurefuse.engine.cpu.BinaryOp;
import io.featurefuse.engine.cpu.SimdKernels;
import io.featurefuse.engine.cpu.StridedLoop;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Element-wise add of 16M floats (a 4096 x 4096 tensor) with broadcasting: "same" (both
 * 4096 x 4096), "row" (+ a 4096 row), "channel" (NCHW [16, 256, 64, 64] + [256, 1, 1]).
 * {@code kernel} writes into a preallocated output (GB/s = 3 x 64 MB / time for "same");
 * {@code tensorAdd} is the public API, which also allocates its result.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
// A fixed, pre-touched heap: otherwise each 64 MB result lands on memory the OS has never
// mapped, and first-touch page faults (not the add) dominate tensorAdd (seen: ~290 ms/op).
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Xms4g", "-Xmx4g", "-XX:+AlwaysPreTouch"})
public class BroadcastAddBench {
    @Param({"same", "row", "channel"})
    String layout;

    int[] shape, bShape;
    float[] a, b, out;
    int[][] strides;
    Tensor ta, tb;

    @Setup
    public void setup() {
        switch (layout) {
            case "same" -> { shape = new int[] {4096, 4096}; bShape = shape; }
            case "row" -> { shape = new int[] {4096, 4096}; bShape = new int[] {4096}; }
            case "channel" -> { shape = new int[] {16, 256, 64, 64}; bShape = new int[] {256, 1, 1}; }
            default -> throw new IllegalArgumentException("layout " + layout);
        }
        int n = 1, nb = 1;
        for (int d : shape) n *= d;
        for (int d : bShape) nb *= d;
        a = random(n, 1);
        b = random(nb, 2);
        out = new float[n];
        ta = Tensor.of(a, shape);
        tb = Tensor.of(b, bShape);
        int[] cs = contiguous(shape);
        strides = new int[][] {cs, cs, broadcastStrides(bShape, shape)};
    }

    static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextDouble(-1, 1);
        return x;
    }

    static int[] contiguous(int[] s) {
        int[] st = new int[s.length];
        for (int i = s.length - 1, acc = 1; i >= 0; acc *= s[i], i--) st[i] = acc;
        return st;
    }

    static int[] broadcastStrides(int[] small, int[] target) {
        int[] own = contiguous(small), st = new int[target.length];
        int shift = target.length - small.length;
        for (int i = 0; i < small.length; i++) st[i + shift] = small[i] == 1 ? 0 : own[i];
        return st;
    }

    @Benchmark
    public float[] kernel() {
        StridedLoop.forEach(shape, strides, new int[3], (o, st, n) ->
                SimdKernels.binary(BinaryOp.ADD, a, o[1], st[1], b, o[2], st[2], out, o[0], n));
        return out;
    }

    @Benchmark
    public Tensor tensorAdd() {
        return ta.add(tb);
    }
}
