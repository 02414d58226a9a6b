package io.featurefuse.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.layers.Activation;
import io.featurefuse.nn.layers.BasicBlock;
import io.featurefuse.nn.layers.BatchNorm2d;
import io.featurefuse.nn.layers.Conv2d;
import io.featurefuse.nn.layers.MaxPool2d;
import io.featurefuse.nn.layers.OpFusion;
import io.featurefuse.nn.layers.Sequential;
import io.featurefuse.nn.models.Backbone;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * conv → BN (→ ReLU) folded into one convolution in eval without recording: the same numbers as
 * the layers one by one (to float rounding), taps inside a chain are kept, and a recording forward
 * in eval never folds. In training the chain runs as conv2dBatchNorm, to the bit the layers one by one.
 */
class OpFusionTest {

    /** A backbone with a tap right after a BN, in the middle of a conv-BN-ReLU chain. */
    static final class Tapped extends Backbone {
        Tapped(SplittableRandom r) {
            super(3);
            add(new Conv2d(3, 8, 3, 1, 1, true, r));
            add(new BatchNorm2d(8));
            tap("bn1", 8, 1);
            add(Activation.relu());
            add(new Conv2d(8, 16, 3, 2, 1, false, r));
            add(new BatchNorm2d(16));
            add(Activation.relu());
            tap("out", 16, 2);
            add(new BasicBlock(16, 24, 2, r));
            tap("block", 24, 4);
        }
    }

    /** Running statistics and affine parameters away from their defaults, so folding has something to fold. */
    static <M extends Module> M withStatistics(M m, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        try (var off = GradMode.off()) {
            for (var e : m.stateDict().entrySet()) {
                Tensor t = e.getValue();
                String k = e.getKey();
                if (k.endsWith("running_mean") || k.endsWith("bias")) t.assign(Tensor.uniform(r, -0.5, 0.5, t.shape().toArray()));
                else if (k.endsWith("running_var") || (k.endsWith("weight") && t.rank() == 1)) t.assign(Tensor.uniform(r, 0.5, 2, t.shape().toArray()));
            }
        }
        m.eval();
        return m;
    }

    static void assertClose(Tensor expected, Tensor actual, String what) {
        double[] e = expected.toArray(), a = actual.toArray();
        assertEquals(e.length, a.length, what);
        for (int i = 0; i < e.length; i++) assertEquals(e[i], a[i], 1e-5 * (1 + Math.abs(e[i])), what + " at " + i);
    }

    @Test
    void fusedEvalMatchesLayerByLayer() {
        Tapped net = withStatistics(new Tapped(new SplittableRandom(1)), 2);
        Tensor x = Tensor.randn(new SplittableRandom(3), 2, 3, 12, 12);
        Map<String, Tensor> plain = net.features(x, List.of("bn1", "out", "block")); // recording: never fused
        Map<String, Tensor> fused;
        try (var off = GradMode.off()) {
            fused = net.features(x, List.of("bn1", "out", "block"));
            assertClose(net.forward(x), fused.get("block"), "forward");
        }
        for (String tap : plain.keySet()) assertClose(plain.get(tap), fused.get(tap), "tap " + tap);
    }

    @Test
    void sequentialChainsFuse() {
        SplittableRandom r = new SplittableRandom(4);
        Sequential s = withStatistics(new Sequential(new Conv2d(4, 6, 1, 1, 0, false, r), new BatchNorm2d(6), Activation.relu(),
                new Conv2d(6, 5, 3, 1, 1, true, r), new BatchNorm2d(5)), 5);
        Tensor x = Tensor.randn(new SplittableRandom(6), 3, 4, 9, 7);
        Tensor plain = s.call(x);
        try (var off = GradMode.off()) {
            assertClose(plain, s.call(x), "sequential");
        }
    }

    /**
     * Training through fused BN + ReLU (and a max pool after, run inside BN's pass) gives, to the bit, the outputs,
     * gradients and running statistics of the layers one by one.
     */
    @Test
    void fusedTrainingIsLayerByLayerTraining() {
        java.util.function.Supplier<Sequential> make = () -> {
            SplittableRandom r = new SplittableRandom(8);
            return withStatistics(new Sequential(new Conv2d(3, 6, 3, 1, 1, false, r), new BatchNorm2d(6), Activation.relu(), new MaxPool2d(2),
                    new Conv2d(6, 4, 3, 2, 1, true, r), new BatchNorm2d(4), Activation.relu()), 9);
        };
        Sequential fused = make.get(), plain = make.get();
        fused.train();
        plain.train();
        Tensor x = Tensor.randn(new SplittableRandom(10), 4, 3, 10, 9);
        Tensor yf = fused.call(x), yp = x;
        for (Module m : plain.children().values()) yp = m.call(yp); // each layer on its own
        org.junit.jupiter.api.Assertions.assertArrayEquals(yp.toArray(), yf.toArray(), 0.0);
        Tensor up = Tensor.randn(new SplittableRandom(11), yp.shape().toArray());
        yf.mul(up).sum().backward();
        yp.mul(up).sum().backward();
        var pf = fused.stateDict(); var pp = plain.stateDict();
        for (String k : pp.keySet()) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(pp.get(k).toArray(), pf.get(k).toArray(), 0.0, k);
            if (pp.get(k).grad() != null)
                org.junit.jupiter.api.Assertions.assertArrayEquals(pp.get(k).grad().toArray(), pf.get(k).grad().toArray(), 0.0, k + " grad");
        }
    }

    /** A user layer that keeps what it is given (as a visualisation hook would). */
    static final class Keeper extends Module {
        Tensor kept, made;

        @Override
        public Tensor forward(Tensor x) {
            kept = x;
            made = x.relu();
            return made;
        }
    }

    /** Inference hands intermediate buffers back, repeatedly, without touching taps, outputs or what a user layer keeps. */
    @Test
    void inferenceRecyclesOnlyWhatNobodyHolds() {
        Tapped net = withStatistics(new Tapped(new SplittableRandom(12)), 13);
        Tensor x = Tensor.randn(new SplittableRandom(14), 2, 3, 64, 64); // maps above the pool's minimum size
        Map<String, Tensor> plain = net.features(x, List.of("bn1", "out", "block"));
        try (var off = GradMode.off()) {
            for (int round = 0; round < 3; round++) { // later rounds run on recycled buffers
                Map<String, Tensor> fused = net.features(x, List.of("bn1", "out", "block"));
                for (String tap : plain.keySet()) assertClose(plain.get(tap), fused.get(tap), "round " + round + " tap " + tap);
                assertClose(plain.get("block"), net.forward(x), "round " + round + " forward");
            }
            SplittableRandom r = new SplittableRandom(15);
            Keeper keeper = new Keeper();
            Sequential s = new Sequential(new Conv2d(3, 4, 3, 1, 1, true, r), keeper, new Conv2d(4, 4, 3, 1, 1, true, r), Activation.relu());
            s.eval();
            s.call(x);
            assertEquals(4 * 64 * 64 * 2, keeper.kept.toArray().length, "a user layer's input stays readable");
            assertEquals(keeper.kept.relu().sum().item(), keeper.made.sum().item(), 1e-3, "and so does its output");
        }
    }

    @Test
    void foldsOnlyInEvalWithoutRecordingAndNeverFusesAcrossATap() {
        SplittableRandom r = new SplittableRandom(7);
        List<Module> chain = List.of(new Conv2d(2, 2, 3, 1, 1, false, r), new BatchNorm2d(2), Activation.relu());
        chain.forEach(Module::eval);
        assertEquals(0, OpFusion.span(chain, 0, 2, i -> false), "recording");
        try (var off = GradMode.off()) {
            assertEquals(3, OpFusion.span(chain, 0, 2, i -> false));
            assertEquals(2, OpFusion.span(chain, 0, 2, i -> i == 1), "a tap after the BN stops the ReLU joining");
            assertEquals(0, OpFusion.span(chain, 0, 2, i -> i == 0), "a tap after the conv stops fusion");
            assertEquals(2, OpFusion.span(chain, 0, 1, i -> false), "the chain ends at the BN");
            assertEquals(2, OpFusion.span(chain, 1, 2, i -> false), "BN then ReLU");
            assertEquals(0, OpFusion.span(chain, 1, 2, i -> i == 1), "a tap after the BN keeps it apart from the ReLU");
            chain.get(1).train();
            assertEquals(3, OpFusion.span(chain, 0, 2, i -> false), "a training BN takes its statistics in the conv's pass");
        }
        assertEquals(3, OpFusion.span(chain, 0, 2, i -> false), "so it does while recording");
        assertEquals(0, OpFusion.span(chain, 0, 2, i -> i == 0), "but not across a tap");
        assertEquals(2, OpFusion.span(chain, 1, 2, i -> false), "BN then ReLU fuse while recording, in training too");
        List<Module> pooled = List.of(chain.get(0), chain.get(1), chain.get(2), new MaxPool2d(2));
        assertEquals(4, OpFusion.span(pooled, 0, 3, i -> false), "training, a max pool after the ReLU joins BN's pass");
        assertEquals(3, OpFusion.span(pooled, 0, 3, i -> i == 2), "but not across a tap");
        assertEquals(3, OpFusion.span(pooled, 0, 2, i -> false), "nor past the chain's end");
        pooled.forEach(Module::eval);
        try (var off = GradMode.off()) {
            assertEquals(3, OpFusion.span(pooled, 0, 3, i -> false), "inference folds BN into the conv and pools apart");
        }
    }
}
