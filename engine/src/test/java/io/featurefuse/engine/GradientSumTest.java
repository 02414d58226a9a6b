package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.cpu.Conv2dKernels;
import io.featurefuse.engine.cpu.ConvGeom;
import io.featurefuse.engine.cpu.Parallel;
import java.util.SplittableRandom;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * A conv's input gradient added into the gradient already waiting for its input, in the pass that writes it
 * (Conv2dKernels.backwardData adding, Autograd's summable gradients): the bits of computing it apart and adding.
 */
class GradientSumTest {

    /** Enough images that every thread has one (the phase-plane route runs an image per task). */
    private static final int N = Math.max(2, Parallel.threads());

    /**
     * The routes that add: Winograd F(2x2) and F(4x4) (3x3 stride 1, 16 channels and more), and the phase planes
     * with stride 2 (rows of every width against the vector), stride 1 (few channels) and stride 3.
     */
    @Property(tries = 60)
    void addingGivesTheSumOfTheGradientAndWhatWasThere(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int family = r.nextInt(4), stride = family == 1 ? 2 : family == 3 ? 3 : 1;
        int c = family == 0 ? 16 + r.nextInt(9) : 1 + r.nextInt(12), k = family == 0 ? 16 + r.nextInt(9) : 1 + r.nextInt(12);
        int kh = family == 0 ? 3 : 2 + r.nextInt(2), kw = family == 0 ? 3 : 2 + r.nextInt(2), pad = family == 0 ? 1 : r.nextInt(2);
        int h = 5 + r.nextInt(30), w = 5 + r.nextInt(40);
        int oh = (int) ConvGeom.outSize(h, kh, stride, pad, 1), ow = (int) ConvGeom.outSize(w, kw, stride, pad, 1);
        ConvGeom g = new ConvGeom(N, c, h, w, k, kh, kw, oh, ow, stride, stride, pad, pad, 1, 1, 1);
        Assume.that(Conv2dKernels.addsInputGradient(g));
        float[] dOut = floats(r, N * k * oh * ow), wt = floats(r, k * c * kh * kw), waiting = floats(r, N * c * h * w);
        waiting[r.nextInt(waiting.length)] = -0f;
        float[] alone = new float[waiting.length], summed = waiting.clone();
        Conv2dKernels.backwardData(alone, dOut, 0, wt, 0, g);
        Conv2dKernels.backwardData(summed, dOut, 0, wt, 0, g, true);
        float[] expected = new float[alone.length];
        for (int i = 0; i < expected.length; i++) expected[i] = waiting[i] + alone[i];
        assertArrayEquals(expected, summed, g.toString());
    }

    /** The reference model's layers whose inputs have two readers: 32->32 3x3 28x28 (F(4x4)) and 32->64 3x3 stride 2. */
    @Test
    void theReferenceModelsSharedInputsAdd() {
        assertTrue(Conv2dKernels.addsInputGradient(new ConvGeom(128, 32, 28, 28, 32, 3, 3, 28, 28, 1, 1, 1, 1, 1, 1, 1)));
        assertTrue(Conv2dKernels.addsInputGradient(new ConvGeom(128, 32, 28, 28, 64, 3, 3, 14, 14, 2, 2, 1, 1, 1, 1, 1)));
    }

    @Test
    void aRouteThatCannotAddSaysSo() {
        ConvGeom pointwise = new ConvGeom(2, 4, 5, 5, 4, 1, 1, 5, 5, 1, 1, 0, 0, 1, 1, 1);
        var e = assertThrows(IllegalArgumentException.class,
                () -> Conv2dKernels.backwardData(new float[100], new float[100], 0, new float[16], 0, pointwise, true));
        assertTrue(e.getMessage().contains("cannot add in place"), e.getMessage());
    }

    /**
     * A tensor read by a conv and by a product: its gradient through the whole graph is, to the bit, the sum of
     * the two gradients each path gives alone (a sum of two floats does not depend on their order).
     */
    @Property(tries = 12)
    void aConvAndAnotherReaderSumTheirGradients(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        boolean strided = r.nextBoolean();
        int c = strided ? 4 : 16, k = strided ? 8 : 16, side = 9 + r.nextInt(20);
        ConvOptions o = strided ? new ConvOptions(2, 2, 1, 1, 1, 1, 1) : new ConvOptions(1, 1, 1, 1, 1, 1, 1);
        Tensor a = Fixtures.values(seed, -1, 1, N, c, side, side).to(DType.F32), w = Fixtures.values(seed + 1, -1, 1, k, c, 3, 3).to(DType.F32);
        Tensor m = Fixtures.values(seed + 2, -1, 1, N, c, side, side).to(DType.F32);
        Tensor up = Fixtures.values(seed + 3, -1, 1, a.conv2d(w, null, o).shape().toArray()).to(DType.F32);

        Tensor convAlone = gradientOfA(a, x -> x.conv2d(w, null, o).mul(up).sum());
        Tensor productAlone = gradientOfA(a, x -> x.mul(m).sum());
        Tensor both = gradientOfA(a, x -> x.conv2d(w, null, o).mul(up).sum().add(x.mul(m).sum()));
        assertArrayEquals(productAlone.add(convAlone).toFloatArray(), both.toFloatArray(), "strided " + strided + ", side " + side);
    }

    /**
     * Where x's waiting gradient is also another tensor's, the conv must not add into it. In
     * sum(v c) + sum(m conv(x) (x + v)), add passes its incoming gradient to x and v as one buffer; backward
     * reaches conv(x) after that add and before v's other reader. Against float64.
     */
    @Test
    void aSharedWaitingGradientIsLeftAlone() {
        ConvOptions o = new ConvOptions(1, 1, 1, 1, 1, 1, 1);
        int[] shape = {N, 16, 12, 12};
        Tensor a = Fixtures.values(5, -1, 1, shape), b = Fixtures.values(6, -1, 1, shape), w = Fixtures.values(7, -1, 1, 16, 16, 3, 3);
        Tensor c = Fixtures.values(8, -1, 1, shape), m = Fixtures.values(9, -1, 1, shape);
        Tensor[] fast = sharedGraph(a.to(DType.F32), b.to(DType.F32), w.to(DType.F32), c.to(DType.F32), m.to(DType.F32), o);
        Tensor[] reference = sharedGraph(a, b, w, c, m, o);
        assertClose("d/da", fast[0], reference[0], 1e-3, 1e-5);
        assertClose("d/db", fast[1], reference[1], 1e-4, 1e-5);
    }

    /** Gradients of a and b for sum(v c) + sum(m conv(x, w) (x + v)), x and v a and b times one (no leaves). */
    private static Tensor[] sharedGraph(Tensor a, Tensor b, Tensor w, Tensor c, Tensor m, ConvOptions o) {
        Tensor la = a.copy().requiresGrad(true), lb = b.copy().requiresGrad(true);
        Tensor x = la.mul(1.0), v = lb.mul(1.0);
        v.mul(c).sum().add(x.conv2d(w, null, o).mul(x.add(v)).mul(m).sum()).backward();
        return new Tensor[] {la.grad(), lb.grad()};
    }

    private static Tensor gradientOfA(Tensor a, java.util.function.UnaryOperator<Tensor> loss) {
        Tensor leaf = a.copy().requiresGrad(true);
        // times one (exact), so that x is no leaf: its gradients wait in the backward's sums
        loss.apply(leaf.mul(1.0)).backward();
        return leaf.grad();
    }

    private static float[] floats(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }
}
