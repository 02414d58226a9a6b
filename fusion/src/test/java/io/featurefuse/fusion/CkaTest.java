package io.featurefuse.fusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.models.Backbone;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CkaTest {
    @Test
    void invariantToRotationAndScaleAndLowForIndependentFeatures() {
        SplittableRandom r = new SplittableRandom(1);
        Tensor x = Tensor.randn(r, 200, 10);
        Tensor q = Tensor.randn(r, 10, 10); // almost surely invertible: CKA of x and x q stays high, but not 1
        assertEquals(1, Cka.linear(x, x.mul(3)), 1e-5);
        double[] p = new double[100];
        for (int i = 0; i < 10; i++) p[i * 10 + (i * 3) % 10] = 1; // an orthogonal permutation
        assertEquals(1, Cka.linear(x, x.matmul(Tensor.of(p, 10, 10).to(io.featurefuse.engine.DType.F32)).mul(0.5)), 1e-5);
        assertTrue(Cka.linear(x, x.matmul(q)) > 0.3);
        assertTrue(Cka.linear(x, Tensor.randn(r, 200, 10)) < 0.15);
    }

    @Test
    void matchesTheFormulaOnASmallExample() {
        // hand-checkable: x = [1,2,3,4], y = [1,2,3,5] (one feature each): CKA = corr(x, y)^2 for centred 1-d features
        Tensor x = Tensor.of(new float[] {1, 2, 3, 4}, 4, 1), y = Tensor.of(new float[] {1, 2, 3, 5}, 4, 1);
        double mx = 2.5, my = 2.75, sxy = 0, sxx = 0, syy = 0;
        float[] xv = {1, 2, 3, 4}, yv = {1, 2, 3, 5};
        for (int i = 0; i < 4; i++) {
            sxy += (xv[i] - mx) * (yv[i] - my);
            sxx += (xv[i] - mx) * (xv[i] - mx);
            syy += (yv[i] - my) * (yv[i] - my);
        }
        assertEquals(sxy * sxy / (sxx * syy), Cka.linear(x, y), 1e-9);
    }

    /** A two-tap backbone (the input as it is, then squared) that logs its name for every batch it runs. */
    private static Backbone logging(String name, List<String> log) {
        return new Backbone(1) {
            {
                add(new Module() {
                    @Override
                    public Tensor forward(Tensor x) {
                        log.add(name);
                        return x;
                    }
                });
                tap("same", 1, 1);
                add(new Module() {
                    @Override
                    public Tensor forward(Tensor x) {
                        return x.mul(x);
                    }
                });
                tap("squared", 1, 1);
            }
        };
    }

    /**
     * matrix gives, for every pair of taps, what linear gives on the two taps' features; past
     * FULL_LIMIT images it makes each minibatch's features of both models before the next
     * minibatch's (so that only one minibatch's are held), not every image's of one model first.
     */
    @Test
    void matrixIsLinearOnEveryPairOfTapsAndHoldsOneMinibatchAtATime() {
        SplittableRandom r = new SplittableRandom(3);
        for (int n : new int[] {300, Cka.FULL_LIMIT + 2 * Cka.MINIBATCH}) {
            Tensor images = Tensor.randn(r, n, 1, 3, 3);
            List<String> log = new ArrayList<>();
            double[][] m = Cka.matrix(logging("a", log), logging("b", log), images, Cka.MINIBATCH);
            Tensor same = images, squared = images.mul(images);
            List<Tensor> taps = List.of(same, squared);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) assertEquals(Cka.linear(taps.get(i), taps.get(j)), m[i][j], 1e-12, n + " images, taps " + i + ", " + j);
            if (n > Cka.FULL_LIMIT) {
                List<String> expected = new ArrayList<>();
                for (int s = 0; s + Cka.MINIBATCH <= n; s += Cka.MINIBATCH) expected.addAll(List.of("a", "b"));
                assertEquals(expected, log);
            }
        }
    }

    @Test
    void minibatchEstimateAgreesWithTheFullOneOnLargeSamples() {
        SplittableRandom r = new SplittableRandom(2);
        Tensor x = Tensor.randn(r, 2048, 8), noise = Tensor.randn(r, 2048, 8);
        Tensor y = x.add(noise.mul(0.7));
        double full = Cka.fromGrams(java.util.List.<double[][]>of(Cka.gram(x.narrow(0, 0, 1024))), java.util.List.<double[][]>of(Cka.gram(y.narrow(0, 0, 1024))), false);
        assertEquals(full, Cka.linear(x, y), 0.05); // 2048 > FULL_LIMIT: minibatch CKA
    }
}
