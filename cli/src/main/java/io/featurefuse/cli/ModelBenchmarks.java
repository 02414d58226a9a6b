package io.featurefuse.cli;

import io.featurefuse.engine.Loss;
import io.featurefuse.engine.Tensor;
import io.featurefuse.engine.cpu.Parallel;
import io.featurefuse.engine.cpu.Simd;
import io.featurefuse.fusion.Aligner;
import io.featurefuse.fusion.TwoStream;
import io.featurefuse.nn.Inference;
import io.featurefuse.nn.models.Backbones;
import io.featurefuse.nn.optim.ParamGroup;
import io.featurefuse.nn.optim.Sgd;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;

/**
 * The whole-model rows of the side-by-side benchmark: the reference two-stream model (concat) as
 * benchmarks/side-by-side.sh builds it in PyTorch: one SGD training step at batch 128 and
 * inference at batch 256; plus this machine's FMA peak through the Vector API, so that GFLOP/s
 * figures can be read as a fraction of it.
 */
final class ModelBenchmarks {
    private ModelBenchmarks() {}

    /** The reference model, seeded. */
    static TwoStream twoStream() {
        SplittableRandom r = new SplittableRandom(0);
        return new TwoStream(Backbones.create("resnet_a", 1, r), "block2", Backbones.create("vgg_b", 1, r), "conv3", "concat", "to-larger",
                Aligner.Up.BILINEAR, Aligner.Down.AVGPOOL, 128, 10, false, 28, 28, r);
    }

    /** A training step of the reference recipe on a fixed batch: forward, cross-entropy, backward, SGD Nesterov. */
    static Runnable trainStep(TwoStream m, int batch) {
        Tensor x = Tensor.randn(new SplittableRandom(1), batch, 1, 28, 28);
        int[] y = new int[batch];
        for (int i = 0; i < batch; i++) y[i] = i % 10;
        Sgd opt = new Sgd(List.of(new ParamGroup(m.parameters(), 0.05, 5e-4)), 0.9, 0, true);
        m.train();
        return () -> {
            opt.zeroGrad();
            Loss.crossEntropy(m.call(x), y).backwardAndRecycle();
            opt.step();
        };
    }

    static Runnable inference(TwoStream m, int batch) {
        Tensor x = Tensor.randn(new SplittableRandom(2), batch, 1, 28, 28);
        m.eval();
        return () -> Inference.run(m, x).recycle(); // as fuse eval and the trainer's test pass run it
    }

    /** Seconds from JVM start to the end of the first training step (model built, data made, one step). */
    static double secondsToFirstStep() {
        long start = ProcessHandle.current().info().startInstant().map(i -> i.toEpochMilli()).orElse(System.currentTimeMillis());
        trainStep(twoStream(), 128).run();
        return (System.currentTimeMillis() - start) / 1000.0;
    }

    /** Peak resident memory (VmHWM) of this process in MB after `steps` training steps; -1 where /proc is missing. */
    static double peakRssAfterTraining(int steps) throws java.io.IOException {
        Runnable step = trainStep(twoStream(), 128);
        for (int i = 0; i < steps; i++) step.run();
        Path status = Path.of("/proc/self/status");
        if (!Files.exists(status)) return -1;
        for (String line : Files.readAllLines(status))
            if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
        return -1;
    }

    /** GC pauses in a window of steady training, and how long the warm-up before it took. */
    record SteadyPauses(GcPauses.Summary pauses, double warmUpSeconds, boolean settled) {}

    /**
     * A step allocating more than this has a kernel not yet compiled by C2, whose vectors are still
     * objects: the first step makes ~11 GB of them, the next few tens to hundreds of MB each, a
     * steady step ~6-7 MB (per-call bookkeeping and the weights packed anew).
     */
    static final long STEADY_STEP_BYTES = 32L << 20;
    private static final double WARM_UP_LIMIT_SECONDS = 120;

    /**
     * The GC pauses of `seconds` of training steps of the reference model at batch 128, once
     * training is steady: after `warmUpSeconds` of steps and then until three steps in a row
     * allocate under STEADY_STEP_BYTES (at most WARM_UP_LIMIT_SECONDS in all). Until C2 has
     * compiled the kernels their boxed vectors make garbage at GB/s, a young collection every
     * ~25 ms; on a machine whose other tenants slow the compiler, that lasted past a fixed 6 s and
     * into the window. The "no GC pauses over 10 ms in steady-state training", measured
     * with the launcher's heap flags when run through ./fuse.
     */
    static SteadyPauses gcPausesInSteadyTraining(double warmUpSeconds, double seconds) throws java.io.IOException {
        Runnable step = trainStep(twoStream(), 128);
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        boolean counted = threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled();
        try (GcPauses pauses = new GcPauses()) {
            long start = System.nanoTime(), limit = (long) (WARM_UP_LIMIT_SECONDS * 1e9);
            while (System.nanoTime() - start < warmUpSeconds * 1e9) step.run();
            int quiet = 0;
            while (counted && quiet < 3 && System.nanoTime() - start < limit) {
                long before = threads.getTotalThreadAllocatedBytes();
                step.run();
                quiet = threads.getTotalThreadAllocatedBytes() - before < STEADY_STEP_BYTES ? quiet + 1 : 0;
            }
            double warmUp = (System.nanoTime() - start) / 1e9;
            java.time.Instant from = java.time.Instant.now();
            for (long t0 = System.nanoTime(); System.nanoTime() - t0 < seconds * 1e9; ) step.run();
            return new SteadyPauses(pauses.since(from), warmUp, !counted || quiet == 3);
        }
    }

    /** FLOP of one FMA-peak call on every thread: 12 independent chains of vector FMAs. */
    static double peakFlops(int iterations) {
        return 2.0 * Simd.L * 12 * iterations * Parallel.threads();
    }

    /**
     * Every pool thread runs 12 independent FMA chains (enough to cover FMA latency on 2 pipes),
     * each chain through the addend, c = a b + c, as a GEMM's accumulators run. With the chain
     * through a multiplicand instead (c = c a + b) the same loop measured ~17% less on this
     * machine (85 vs 103 GFLOP/s on one core, one JVM, alternating), and OpenBLAS's SGEMM then
     * showed as 112-115% of "peak".
     */
    static Runnable fmaPeak(int iterations) {
        float[] sink = new float[Parallel.threads() * Simd.L];
        return () -> Parallel.forEach(Parallel.threads(), t -> {
            FloatVector a = FloatVector.broadcast(Simd.F, 0.999f), b = FloatVector.broadcast(Simd.F, 1e-4f);
            FloatVector c0 = b, c1 = b.add(1), c2 = b.add(2), c3 = b.add(3), c4 = b.add(4), c5 = b.add(5), c6 = b.add(6), c7 = b.add(7),
                    c8 = b.add(8), c9 = b.add(9), c10 = b.add(10), c11 = b.add(11);
            for (int i = 0; i < iterations; i++) {
                c0 = a.fma(b, c0); c1 = a.fma(b, c1); c2 = a.fma(b, c2); c3 = a.fma(b, c3);
                c4 = a.fma(b, c4); c5 = a.fma(b, c5); c6 = a.fma(b, c6); c7 = a.fma(b, c7);
                c8 = a.fma(b, c8); c9 = a.fma(b, c9); c10 = a.fma(b, c10); c11 = a.fma(b, c11);
            }
            c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6.add(c7).add(c8).add(c9).add(c10).add(c11)).intoArray(sink, t * Simd.L);
        });
    }
}
