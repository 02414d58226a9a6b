package io.featurefuse.fusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.Tensor;
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

    @Test
    void minibatchEstimateAgreesWithTheFullOneOnLargeSamples() {
        SplittableRandom r = new SplittableRandom(2);
        Tensor x = Tensor.randn(r, 2048, 8), noise = Tensor.randn(r, 2048, 8);
        Tensor y = x.add(noise.mul(0.7));
        double full = Cka.fromGrams(java.util.List.<double[][]>of(Cka.gram(x.narrow(0, 0, 1024))), java.util.List.<double[][]>of(Cka.gram(y.narrow(0, 0, 1024))), false);
        assertEquals(full, Cka.linear(x, y), 0.05); // 2048 > FULL_LIMIT: minibatch CKA
    }
}
