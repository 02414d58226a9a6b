package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/** conv_transpose2d: the adjoint of conv2d, fast vs reference, gradients, PyTorch's sizes. */
class ConvTranspose2dTest {

    record Case(int n, int cin, int coutPerGroup, int h, int w, int r, int s, ConvOptions o, int oph, int opw, boolean bias) {
        static Case random(long seed, int maxSide) {
            SplittableRandom rnd = new SplittableRandom(seed);
            int groups = 1 + rnd.nextInt(2);
            ConvOptions o = new ConvOptions(1 + rnd.nextInt(3), 1 + rnd.nextInt(3), rnd.nextInt(2), rnd.nextInt(2),
                    1 + rnd.nextInt(2), 1 + rnd.nextInt(2), groups);
            int r = 1 + rnd.nextInt(3), s = 1 + rnd.nextInt(3);
            while (true) {
                Case c = new Case(1 + rnd.nextInt(2), groups * (1 + rnd.nextInt(3)), 1 + rnd.nextInt(3), 1 + rnd.nextInt(maxSide),
                        1 + rnd.nextInt(maxSide), r, s, o, rnd.nextInt(o.strideH()), rnd.nextInt(o.strideW()), rnd.nextBoolean());
                if (c.outH() >= 1 && c.outW() >= 1) return c;
            }
        }

        int outH() { return (h - 1) * o.strideH() - 2 * o.padH() + o.dilationH() * (r - 1) + oph + 1; }
        int outW() { return (w - 1) * o.strideW() - 2 * o.padW() + o.dilationW() * (s - 1) + opw + 1; }
        int cout() { return coutPerGroup * o.groups(); }
        Tensor x(long seed) { return Fixtures.values(seed, -1, 1, n, cin, h, w); }
        Tensor weight(long seed) { return Fixtures.values(seed + 1, -1, 1, cin, coutPerGroup, r, s); }
        Tensor biasTensor(long seed) { return bias ? Fixtures.values(seed + 2, -1, 1, cout()) : null; }
    }

    @Property(tries = 60)
    void isTheAdjointOfConv2d(@ForAll long seed) {
        Case c = Case.random(seed, 7);
        Tensor b = c.x(seed), w = c.weight(seed);
        Tensor t = b.convTranspose2d(w, null, c.o, c.oph, c.opw);
        assertEquals(Shape.of(c.n, c.cout(), c.outH(), c.outW()), t.shape());
        Tensor a = Fixtures.values(seed + 5, -1, 1, t.shape().toArray());
        double lhs = a.conv2d(w, null, c.o).mul(b).sum().item(), rhs = a.mul(t).sum().item();
        assertEquals(lhs, rhs, 1e-10 * (1 + Math.abs(lhs)), "<conv2d(a, w), b> = <a, convT(b, w)> for " + c);
    }

    @Property(tries = 60)
    void fastMatchesReferenceForwardAndBackward(@ForAll long seed) {
        Case c = Case.random(seed, 9);
        Tensor x = c.x(seed), w = c.weight(seed), bias = c.biasTensor(seed);
        Tensor rx = x.copy().requiresGrad(true), rw = w.copy().requiresGrad(true);
        Tensor fx = x.to(DType.F32).requiresGrad(true), fw = w.to(DType.F32).requiresGrad(true);
        Tensor ref = rx.convTranspose2d(rw, bias, c.o, c.oph, c.opw);
        Tensor fast = fx.convTranspose2d(fw, bias == null ? null : bias.to(DType.F32), c.o, c.oph, c.opw);
        double tol = 2e-6 * c.cin * c.r * c.s;
        assertClose("convTranspose2d " + c, fast, ref, tol, 1e-5);
        Tensor up = Fixtures.values(seed + 3, -1, 1, ref.shape().toArray());
        ref.backward(up);
        fast.backward(up.to(DType.F32));
        assertClose("d/dx " + c, fx.grad(), rx.grad(), tol * 4, 1e-5);
        assertClose("d/dw " + c, fw.grad(), rw.grad(), 2e-6 * c.n * c.h * c.w * 4, 1e-5);
    }

    @Property(tries = 15)
    void gradients(@ForAll long seed) {
        Case c = Case.random(seed, 4);
        Tensor x = c.x(seed), w = c.weight(seed), b = c.biasTensor(seed);
        if (b == null) GradCheck.check("convTranspose2d " + c, in -> in.get(0).convTranspose2d(in.get(1), null, c.o, c.oph, c.opw), x, w);
        else GradCheck.check("convTranspose2d " + c, in -> in.get(0).convTranspose2d(in.get(1), in.get(2), c.o, c.oph, c.opw), x, w, b);
    }

    @Test
    void strideTwoWithAOnesKernelRepeatsEachPixel() {
        Tensor x = Tensor.of(new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
        Tensor y = x.convTranspose2d(Tensor.ones(1, 1, 2, 2), null, ConvOptions.of(2, 0), 0, 0);
        assertArrayEquals(new double[] {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, y.toArray());
        Tensor z = x.convTranspose2d(Tensor.ones(1, 1, 3, 3), Tensor.of(new float[] {0.5f}, 1), ConvOptions.of(2, 1), 1, 1);
        assertEquals(Shape.of(1, 1, 4, 4), z.shape());
        assertEquals(4.5, z.get(0, 0, 3, 3)); // the kernel still reaches the output-padding row: x[1][1] + bias
        Tensor p = x.convTranspose2d(Tensor.ones(1, 1, 1, 1), Tensor.of(new float[] {0.5f}, 1), ConvOptions.of(2, 0), 1, 1);
        assertArrayEquals(new double[] {1.5, 0.5, 2.5, 0.5}, p.narrow(2, 0, 1).reshape(4).toArray()); // odd columns: bias only
    }

    @Test
    void badArgumentsAreClearErrors() {
        Tensor x = Tensor.zeros(1, 4, 5, 5);
        assertEquals("convTranspose2d: output padding 2x0 must be below the stride or the dilation",
                assertThrows(IllegalArgumentException.class, () -> x.convTranspose2d(Tensor.zeros(4, 2, 3, 3), null, ConvOptions.of(2, 1), 2, 0)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> x.convTranspose2d(Tensor.zeros(3, 2, 3, 3), null, ConvOptions.of(1, 0), 0, 0));
    }
}
