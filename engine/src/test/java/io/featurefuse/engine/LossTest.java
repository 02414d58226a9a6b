package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** Cross-entropy (with label smoothing) and MSE: against a direct formula, fast vs reference, gradients. */
class LossTest {

    static int[] labels(long seed, int n, int c) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(c);
        return y;
    }

    /** -(1/N) sum_i [(1 - eps) log p_i,y + (eps / C) sum_c log p_i,c], straight from the definition. */
    static double direct(double[] logits, int[] y, int c, double eps) {
        int n = y.length;
        double total = 0;
        for (int i = 0; i < n; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < c; j++) max = Math.max(max, logits[i * c + j]);
            double z = 0;
            for (int j = 0; j < c; j++) z += Math.exp(logits[i * c + j] - max);
            double logZ = Math.log(z) + max, sumLogP = 0;
            for (int j = 0; j < c; j++) sumLogP += logits[i * c + j] - logZ;
            total += (1 - eps) * (logits[i * c + y[i]] - logZ) + eps / c * sumLogP;
        }
        return -total / n;
    }

    @Property(tries = 40)
    void crossEntropyMatchesItsDefinition(@ForAll @IntRange(min = 1, max = 40) int n, @ForAll @IntRange(min = 2, max = 17) int c,
                                          @ForAll @DoubleRange(min = 0, max = 0.5) double eps, @ForAll long seed) {
        Tensor logits = Fixtures.values(seed, -4, 4, n, c);
        int[] y = labels(seed, n, c);
        double expected = direct(logits.toArray(), y, c, eps);
        assertEquals(expected, Loss.crossEntropy(logits, y, eps).item(), 1e-12);
        assertEquals(expected, Loss.crossEntropy(logits.to(DType.F32), y, eps).item(), 1e-5);
    }

    @Property(tries = 15)
    void gradients(@ForAll @IntRange(min = 1, max = 6) int n, @ForAll @IntRange(min = 2, max = 6) int c, @ForAll long seed) {
        Tensor logits = Fixtures.values(seed, -3, 3, n, c);
        int[] y = labels(seed, n, c);
        GradCheck.check("crossEntropy", in -> Loss.crossEntropy(in.get(0), y), logits);
        GradCheck.check("crossEntropy smoothed", in -> Loss.crossEntropy(in.get(0), y, 0.1), logits);
        Tensor t = Fixtures.values(seed + 1, -1, 1, n, c);
        GradCheck.check("mse", in -> Loss.mse(in.get(0), in.get(1)), logits, t);
    }

    @Test
    void crossEntropyGradientIsSoftmaxMinusOneHotOverN() {
        Tensor logits = Tensor.of(new double[] {1, 2, 3, 0, 0, 0}, 2, 3).requiresGrad(true);
        Loss.crossEntropy(logits, new int[] {2, 0}).backward();
        Tensor expected = logits.detach().softmax(1).sub(Tensor.of(new double[] {0, 0, 1, 1, 0, 0}, 2, 3)).div(2);
        assertClose("d CE / d logits", logits.grad(), expected, 1e-12, 1e-12);
    }

    @Test
    void mseIsTheMeanSquaredDifference() {
        assertEquals((1 + 4 + 0) / 3.0, Loss.mse(Tensor.of(new float[] {1, 2, 3}, 3), Tensor.of(new float[] {0, 0, 3}, 3)).item(), 1e-7);
    }

    @Test
    void badLabelsAndShapesAreClearErrors() {
        Tensor logits = Tensor.zeros(2, 10);
        assertEquals("crossEntropy: label 12 at position 1 is outside [0, 10)",
                assertThrows(IllegalArgumentException.class, () -> Loss.crossEntropy(logits, new int[] {3, 12})).getMessage());
        assertEquals("crossEntropy: 1 labels for 2 rows of logits",
                assertThrows(IllegalArgumentException.class, () -> Loss.crossEntropy(logits, new int[] {3})).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Loss.crossEntropy(Tensor.zeros(2, 3, 4), new int[] {0, 1}));
        assertThrows(IllegalArgumentException.class, () -> Loss.mse(Tensor.zeros(2), Tensor.zeros(3)));
    }
}
