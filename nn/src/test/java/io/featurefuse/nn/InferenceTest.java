package io.featurefuse.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Tensor;
import io.featurefuse.engine.cpu.Parallel;
import io.featurefuse.nn.layers.Linear;
import io.featurefuse.nn.models.Backbones;
import io.featurefuse.nn.models.Classifier;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** A batch run in chunks side by side gives the one call's result, bit for bit. */
class InferenceTest {

    /** A preset classifier whose BN layers hold running statistics from one training forward. */
    private static Classifier trained(String preset, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Classifier m = new Classifier(preset, Backbones.create(preset, 1, r), 10, r);
        m.train();
        m.call(Tensor.randn(r, 6, 1, 20, 20)); // moves the running statistics off 0 and 1
        m.eval();
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"resnet_a", "vgg_b"})
    void chunksGiveTheOneCallsResultBitForBit(String preset) {
        Classifier m = trained(preset, 7);
        int n = 4 * Parallel.threads() + 3; // chunks of at least a thread's worth of images, as run makes them
        Tensor x = Tensor.randn(new SplittableRandom(3), n, 1, 20, 20);
        float[] whole;
        try (var off = GradMode.off()) {
            whole = m.call(x).toFloatArray();
        }
        for (int chunks : new int[] {2, 3, 4}) {
            Tensor y = Inference.run(m, x, chunks);
            assertEquals(n, y.size(0));
            assertArrayEquals(whole, y.toFloatArray(), preset + " in " + chunks + " chunks");
        }
        assertArrayEquals(whole, Inference.run(m, x).toFloatArray(), preset + " through run");
    }

    /** Two full chunks and a last round of small ones, one a thread (Inference.chunkBounds), still give the one call's bits. */
    @Test
    void tailChunksGiveTheOneCallsResultBitForBit() {
        Classifier m = trained("resnet_a", 8);
        int threads = Parallel.threads(), tail = Math.max(threads, Inference.TAIL_CHUNK), n = tail * threads + 2 * (tail + 1) + 1;
        assertEquals(2 + 1 + (threads > 1 ? threads : 0), Inference.chunkBounds(n, 2, threads).length, "chunk starts for " + n + " images");
        Tensor x = Tensor.randn(new SplittableRandom(5), n, 1, 20, 20);
        float[] whole;
        try (var off = GradMode.off()) {
            whole = m.call(x).toFloatArray();
        }
        assertArrayEquals(whole, Inference.run(m, x, 2).toFloatArray(), "resnet_a in 2 chunks and a tail round");
    }

    @Test
    void chunkBoundsEndInARoundOfSmallChunksWhereTheFullOnesStayBigger() {
        assertArrayEquals(new int[] {0, 60, 120, 180, 240, 248, 256}, Inference.chunkBounds(256, 4, 2));
        assertArrayEquals(new int[] {0, 9, 18, 26, 34}, Inference.chunkBounds(34, 2, 2), "34 - 16 leaves 18: two full chunks of 9");
        assertArrayEquals(new int[] {0, 16, 33}, Inference.chunkBounds(33, 2, 2), "33 - 16 leaves 17: full chunks of 8 would not be bigger than the tail");
        assertArrayEquals(new int[] {0, 2, 5, 8, 11}, Inference.chunkBounds(11, 4, 2));
        assertArrayEquals(new int[] {0, 1, 2, 3}, Inference.chunkBounds(3, 4, 2));
        assertArrayEquals(new int[] {0, 64, 128, 192, 256}, Inference.chunkBounds(256, 4, 1), "one thread: no tail round");
        assertArrayEquals(new int[] {0, 71, 142, 213, 284, 292, 300}, Inference.chunkBounds(300, 4, 2));
        int[] wide = Inference.chunkBounds(1024, 16, 16);
        assertEquals(33, wide.length, "16 threads, 1024 images: 16 full chunks of 48, then 16 of 16");
        assertEquals(48, wide[1]);
        assertEquals(768 + 16, wide[17]);
    }

    @Test
    void trainingModeRunsAsOneCallWithoutRecording() {
        Classifier m = trained("vgg_b", 9);
        m.train();
        Tensor y = Inference.run(m, Tensor.randn(new SplittableRandom(4), 9, 1, 20, 20));
        assertEquals(false, y.requiresGrad());
        assertEquals(9, y.size(0));
    }

    /** A model whose output is not one row per image cannot be split: one sentence says so. */
    @Test
    void anOutputWithoutARowPerImageIsAClearError() {
        Module sum = new Module() {
            private final Linear fc = child("fc", new Linear(4, 2, true, new SplittableRandom(1)));

            @Override
            public Tensor forward(Tensor x) {
                return fc.call(x).sum();
            }
        };
        sum.eval();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Inference.run(sum, Tensor.randn(new SplittableRandom(2), 8, 4), 2));
        assertEquals(true, e.getMessage().contains("one output row per image"), e.getMessage());
    }
}
