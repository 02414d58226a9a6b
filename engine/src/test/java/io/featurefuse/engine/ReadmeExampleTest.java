package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The README's library example, as written there, runs and gives a gradient. */
class ReadmeExampleTest {
    @Test
    void readmeExampleRuns() {
        var rng = new SplittableRandom(42);
        Tensor x = Tensor.randn(rng, 8, 3, 28, 28);                  // NCHW, float32
        Tensor w = Tensor.kaimingUniform(rng, Math.sqrt(5), 10, 3 * 28 * 28).requiresGrad(true);
        Tensor logits = x.flatten(1, -1).linear(w, null);             // [8, 10]
        Tensor loss = Loss.crossEntropy(logits, new int[] {0, 1, 2, 3, 4, 5, 6, 7}, 0.1);
        loss.backward();                                              // w.grad() now holds dloss/dw
        try (var off = GradMode.off()) { /* evaluation without recording */ }
        assertNotNull(w.grad());
        assertEquals(w.shape(), w.grad().shape());
        assertEquals(Shape.of(8, 10), logits.shape());
    }
}
