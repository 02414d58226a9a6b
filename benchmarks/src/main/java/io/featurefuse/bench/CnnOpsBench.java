package io.featurefuse.bench;

import io.featurefuse.cli.OpBenchmarks;
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
 * The CNN op shapes of {@code fuse bench --only ops} (and of benchmarks/side-by-side.sh's PyTorch
 * side) under JMH: conv2d 3x3 (64->64 14x14 and 32->32 28x28, batch 128), 1x1, 5x5 and depthwise
 * 3x3, each forward and forward+backward; batch norm, max pool and bilinear resize forward.
 * Divide the case's work (in its name's unit) by the time per op for GFLOP/s or GB/s.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Xms4g", "-Xmx4g", "-XX:+AlwaysPreTouch"})
public class CnnOpsBench {
    @Param({"conv3x3 64->64 14x14 b128 fwd", "conv3x3 64->64 14x14 b128 fwd+bwd",
            "conv3x3 32->32 28x28 b128 fwd", "conv3x3 32->32 28x28 b128 fwd+bwd",
            "conv1x1 160->128 14x14 b128 fwd", "conv1x1 160->128 14x14 b128 fwd+bwd",
            "conv5x5 1->32 28x28 b128 fwd", "conv5x5 1->32 28x28 b128 fwd+bwd",
            "depthwise3x3 64 14x14 b128 fwd", "depthwise3x3 64 14x14 b128 fwd+bwd",
            "batchnorm train 64x14x14 b128 fwd", "batchnorm train 64x14x14 b128 fwd+bwd", "maxpool2x2 32x28x28 b128 fwd",
            "maxpool2x2 32x28x28 b128 fwd+bwd", "bilinear 96x7x7->14x14 b128 fwd", "bilinear 96x7x7->14x14 b128 fwd+bwd"})
    String op;

    Runnable call;

    @Setup
    public void setup() {
        call = OpBenchmarks.cases().stream().filter(c -> c.name().equals(op)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no op benchmark named '" + op + "'")).call();
    }

    @Benchmark
    public void run() {
        call.run();
    }
}
