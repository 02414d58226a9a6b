package io.featurefuse.cli;

import io.featurefuse.engine.cpu.BinaryOp;
import io.featurefuse.engine.cpu.Gemm;
import io.featurefuse.engine.cpu.Parallel;
import io.featurefuse.engine.cpu.Simd;
import io.featurefuse.engine.cpu.SimdKernels;
import io.featurefuse.engine.cpu.StridedLoop;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * {@code fuse bench}: the engine's throughput on this machine. SGEMM at the given sizes, the
 * element-wise add of 16M floats (same shape, and a row broadcast) and the CNN op shapes of
 * {@link OpBenchmarks}, each warmed up and then
 * sampled several times; best and median are reported, since this machine's second core is
 * often busy elsewhere. {@code --json} prints one object a line for scripts
 * (benchmarks/side-by-side.sh reads it).
 */
final class BenchCommand {
    private BenchCommand() {}

    record Row(String name, String unit, double best, double median) {}

    /** What --only takes (besides the default, all): one group of rows each; fuse help lists them. */
    static final List<String> ONLY =
            List.of("sgemm", "add", "ops", "model", "train-step", "inference", "peak", "first-step", "train-rss", "gc-pauses");

    static int run(List<String> args, PrintStream out) throws java.io.IOException {
        if (args.contains("--vs-torch")) {
            List<String> rest = new ArrayList<>(args);
            rest.remove("--vs-torch");
            return VsTorch.run(Options.parse("bench --vs-torch", rest, VsTorch.OPTIONS, Set.of()));
        }
        Options o = Options.parse("bench", args, Set.of("--sizes", "--threads", "--samples", "--seconds", "--only"), Set.of("--json"));
        String only = o.string("--only", "all");
        if (!only.equals("all") && !ONLY.contains(only))
            throw new UsageException("bench: --only takes " + String.join(", ", ONLY.subList(0, ONLY.size() - 1)) + " or " + ONLY.getLast()
                    + ", not '" + only + "'");
        int[] sizes = o.integers("--sizes", new int[] {256, 1024, 2048}, 1, 8192);
        int samples = o.integer("--samples", 5, 1, 1000);
        double seconds = o.decimal("--seconds", 0.4, 0.01, 600);
        if (o.string("--threads", null) != null) {
            // Must be set before the pool starts: nothing above touches it.
            System.setProperty("featurefuse.threads", String.valueOf(o.integer("--threads", 0, 1, 1024)));
        }
        boolean json = o.flag("--json");
        // These three measure a fresh process, so they run first and alone.
        if (only.equals("first-step")) {
            double s = ModelBenchmarks.secondsToFirstStep();
            report(out, json, Parallel.threads(), new ArrayList<>(), new Row("JVM start to first train step b128", "s", s, s));
            return 0;
        }
        if (only.equals("train-rss")) {
            double mb = ModelBenchmarks.peakRssAfterTraining(o.integer("--samples", 20, 1, 1000));
            report(out, json, Parallel.threads(), new ArrayList<>(), new Row("peak RSS of training b128", "MB", mb, mb));
            return 0;
        }
        if (only.equals("gc-pauses")) {
            // the window is --seconds of steady training, 10 unless given
            double window = o.string("--seconds", null) == null ? GC_WINDOW_SECONDS : seconds;
            ModelBenchmarks.SteadyPauses s = ModelBenchmarks.gcPausesInSteadyTraining(MODEL_WARM_UP_SECONDS, window);
            if (!s.settled())
                System.err.printf(Locale.ROOT, "fuse bench: training steps still allocated over %d MB each after %.0f s of warm-up (a kernel "
                        + "not compiled yet); the pauses below are of unsteady training%n", ModelBenchmarks.STEADY_STEP_BYTES >> 20, s.warmUpSeconds());
            if (!json)
                out.printf(Locale.ROOT, "featurefuse bench: after %.1f s of warm-up, %d collections in %.0f s of steady training b128, %.2f ms of pauses in all%n",
                        s.warmUpSeconds(), s.pauses().collections(), window, s.pauses().totalMs());
            report(out, json, Parallel.threads(), new ArrayList<>(), new Row(GC_PAUSE_ROW, "ms", s.pauses().longestMs(), s.pauses().longestMs()));
            return 0;
        }
        int threads = Parallel.threads();
        if (!json) {
            out.printf(Locale.ROOT, "featurefuse bench: %s, %s, JDK %s%n", Common.count(threads, "thread"),
                    Simd.describe(), Runtime.version());
            out.printf(Locale.ROOT, "  %-38s %10s %10s  %s%n", "work", "best", "median", "unit");
        }
        List<Row> rows = new ArrayList<>();
        if (only.equals("all") || only.equals("sgemm")) for (int n : sizes) report(out, json, threads, rows, gemm(n, samples, seconds));
        if (only.equals("all") || only.equals("add")) {
            report(out, json, threads, rows, add(false, samples, seconds));
            report(out, json, threads, rows, add(true, samples, seconds));
        }
        if (only.equals("all") || only.equals("ops"))
            for (OpBenchmarks.Case c : OpBenchmarks.cases())
                report(out, json, threads, rows, measure(c.name(), c.unit(), c.work() / 1e9, c.call(), samples, seconds));
        boolean model = only.equals("all") || only.equals("model");
        if (model || only.equals("train-step") || only.equals("inference")) {
            var m = ModelBenchmarks.twoStream();
            if (model || only.equals("train-step"))
                report(out, json, threads, rows, measure("two-stream concat train step b128", "img/s", 128, ModelBenchmarks.trainStep(m, 128), samples,
                        Math.max(seconds, 1), MODEL_WARM_UP_SECONDS));
            if (model || only.equals("inference"))
                report(out, json, threads, rows, measure("two-stream concat inference b256", "img/s", 256, ModelBenchmarks.inference(m, 256), samples,
                        Math.max(seconds, 1), MODEL_WARM_UP_SECONDS));
        }
        if (only.equals("all") || only.equals("peak"))
            report(out, json, threads, rows, measure("FMA peak (Vector API)", "GFLOP/s", ModelBenchmarks.peakFlops(2_000_000) / 1e9,
                    ModelBenchmarks.fmaPeak(2_000_000), samples, seconds));
        return 0;
    }

    /** The GC row's name; benchmarks/side-by-side.sh takes its worst over the rounds. */
    static final String GC_PAUSE_ROW = "longest GC pause, steady training b128";
    private static final double GC_WINDOW_SECONDS = 10;

    private static void report(PrintStream out, boolean json, int threads, List<Row> rows, Row r) {
        rows.add(r);
        if (json)
            out.printf(Locale.ROOT, "{\"name\": \"%s\", \"unit\": \"%s\", \"best\": %.3f, \"median\": %.3f, \"threads\": %d}%n",
                    r.name, r.unit, r.best, r.median, threads);
        else
            out.printf(Locale.ROOT, "  %-38s %10.2f %10.2f  %s%n", r.name, r.best, r.median, r.unit);
        out.flush();
    }

    /** Calls work until at least `seconds` passed; returns seconds per call. */
    private static double timePerCall(Runnable work, double seconds) {
        long start = System.nanoTime(), limit = (long) (seconds * 1e9);
        int calls = 0;
        long now;
        do {
            work.run();
            calls++;
            now = System.nanoTime();
        } while (now - start < limit);
        return (now - start) / 1e9 / calls;
    }

    /**
     * Warm-up, then `samples` timings; returns best and median of amount / seconds. The warm-up
     * lasts at least a second: C2 finishes the GEMM's eight-row kernels (over 1,000 bytes of
     * bytecode) about 1.4 s after start, and with 0.3 s the first samples of the first row ran on
     * C1 code (n = 256: median 95 against best 260 GFLOP/s). Time to compiled code is measured on
     * its own, by the first-step row.
     */
    private static Row measure(String name, String unit, double amount, Runnable work, int samples, double seconds) {
        return measure(name, unit, amount, work, samples, seconds, 1.0);
    }

    /**
     * The model rows' warm-up. A train step runs dozens of kernels, and C2 compiles them over several
     * seconds of steps: b128 training, 2 threads, images/s per one-second window from JVM start
     * (first step done at ~6 s): 197, 462, 683, 713, 726, then 500-726 (this machine's noise). With a
     * one-second warm-up the side-by-side's train-step medians ran 30-35% below its bests (484-508
     * against 686-756 img/s). {@code --only model --samples 3 --seconds 1} as the side-by-side runs
     * it, 3 alternations: train-step medians 319-448 -> 471-663 img/s (bests 572-682 -> 663-716).
     */
    private static final double MODEL_WARM_UP_SECONDS = 6;

    private static Row measure(String name, String unit, double amount, Runnable work, int samples, double seconds, double warmUpSeconds) {
        timePerCall(work, Math.max(warmUpSeconds, seconds));
        double[] rates = new double[samples];
        for (int i = 0; i < samples; i++) rates[i] = amount / timePerCall(work, seconds);
        Arrays.sort(rates);
        double median = samples % 2 == 1 ? rates[samples / 2] : (rates[samples / 2 - 1] + rates[samples / 2]) / 2;
        return new Row(name, unit, rates[samples - 1], median);
    }

    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextDouble(-1, 1);
        return x;
    }

    static Row gemm(int n, int samples, double seconds) {
        float[] a = random(n * n, 1), b = random(n * n, 2), c = new float[n * n];
        Runnable work = () -> Gemm.sgemm(1, n, n, n, a, 0, 0, false, n, b, 0, 0, false, n, c, 0, 0, n);
        return measure("sgemm n=" + n, "GFLOP/s", 2.0 * n * n * n / 1e9, work, samples, seconds);
    }

    /** c = a + b over 16M floats (3 x 64 MB of traffic); broadcast adds a 4096-float row to every row. */
    static Row add(boolean broadcast, int samples, double seconds) {
        int rows = 4096, cols = 4096, n = rows * cols;
        float[] a = random(n, 3), b = random(broadcast ? cols : n, 4), c = new float[n];
        int[] shape = {rows, cols};
        int[][] strides = {{cols, 1}, {cols, 1}, {broadcast ? 0 : cols, 1}};
        Runnable work = () -> StridedLoop.forEach(shape, strides, new int[3], (off, st, len) ->
                SimdKernels.binary(BinaryOp.ADD, a, off[1], st[1], b, off[2], st[2], c, off[0], len));
        double bytes = 4.0 * (2L * n + (broadcast ? cols : n));
        return measure(broadcast ? "add 16M floats, row broadcast" : "add 16M floats", "GB/s", bytes / 1e9, work, samples, seconds);
    }
}
