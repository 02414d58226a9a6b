package io.featurefuse.fusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Tensor;
import io.featurefuse.engine.cpu.Parallel;
import io.featurefuse.nn.Inference;
import io.featurefuse.nn.models.Backbones;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Inference on the two-stream model, whose forward hands its feature maps back to the buffer
 * pool: repeated calls (which reuse those buffers) give the same bits as one plain call, earlier
 * outputs stay as they were, and the numbers agree with a recording forward.
 */
class TwoStreamInferenceTest {

    @Test
    void everyStrategyGivesTheSameBitsCallAfterCallAndChunked() {
        int n = 4 * Parallel.threads() + 3;
        Tensor x1 = Tensor.randn(new SplittableRandom(2), n, 1, 28, 28), x2 = Tensor.randn(new SplittableRandom(3), n, 1, 28, 28);
        for (String s : Strategies.names()) {
            SplittableRandom r = new SplittableRandom(1);
            TwoStream m = new TwoStream(Backbones.create("resnet_a", 1, r), "block2", Backbones.create("vgg_b", 1, r), "conv3", s, "to-larger",
                    Aligner.Up.BILINEAR, Aligner.Down.AVGPOOL, 32, 10, false, 28, 28, r);
            m.train();
            m.call(x2); // running statistics off 0 and 1
            m.eval();
            double[] recorded = m.call(x1).toArray();
            float[] plain;
            try (var off = GradMode.off()) {
                plain = m.call(x1).toFloatArray();
            }
            Tensor first = Inference.run(m, x1);
            float[] firstBits = first.toFloatArray();
            Inference.run(m, x2);
            assertArrayEquals(plain, firstBits, s + ": chunked");
            assertArrayEquals(firstBits, first.toFloatArray(), s + ": an earlier output changed");
            assertArrayEquals(plain, Inference.run(m, x1).toFloatArray(), s + ": again");
            for (int i = 0; i < recorded.length; i++) assertArrayEquals(new double[] {recorded[i]}, new double[] {plain[i]}, 1e-4, s + " at " + i);
        }
    }
}
