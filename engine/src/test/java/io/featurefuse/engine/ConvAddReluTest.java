package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.cpu.ConvGeom;
import java.util.SplittableRandom;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * conv2dAddRelu, relu(conv2d + residual): the same bits as conv2d then addRelu, forward and every
 * gradient, on each kernel route (the Winograd ones add the residual in their output pass, the
 * others in a pass of their own), and finite differences through it.
 */
class ConvAddReluTest {

    /** Random layers of every kind (strided, dilated, grouped, depthwise): the routes that add the residual after the convolution. */
    @Property(tries = 40)
    void anyLayerIsConvThenAddRelu(@ForAll long seed) {
        Conv2dTest.Case c = Conv2dTest.Case.random(seed, new SplittableRandom(seed).nextBoolean() ? 24 : 7, 12);
        for (DType dtype : DType.values())
            assertSameAsComposition("conv2dAddRelu " + dtype + " " + c, c.x(seed).to(dtype), c.weight(seed).to(dtype),
                    c.biasTensor(seed) == null ? null : c.biasTensor(seed).to(dtype), c.o(), seed);
    }

    /**
     * 3x3 stride-1 layers the Winograd routes take, F(2x2) and F(4x4) (half the tries each), at sizes whose
     * planes end in a partial vector block: the residual is added in the output pass, the end through the scalar tail.
     */
    @Property(tries = 30)
    void winogradLayersAddTheResidualInTheirOutputPass(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        boolean f4 = r.nextBoolean();
        ConvGeom g = Fixtures.winogradLayer(r, f4, 3);
        int pad = g.ph(), n = g.n(), cin = g.c(), k = g.k(), h = g.h(), w = g.w();
        ConvOptions o = new ConvOptions(1, 1, pad, pad, 1, 1, 1);
        Tensor x = Fixtures.values(seed, -1, 1, n, cin, h, w).to(DType.F32), wt = Fixtures.values(seed + 1, -0.2, 0.2, k, cin, 3, 3).to(DType.F32);
        Tensor b = r.nextBoolean() ? Fixtures.values(seed + 2, -1, 1, k).to(DType.F32) : null;
        assertSameAsComposition((f4 ? "F(4x4) " : "F(2x2) ") + x.shape() + " pad " + pad, x, wt, b, o, seed);
    }

    /** The residual may be any view of the output's shape (here a transposed one): it is read as its values, not as its storage. */
    @Test
    void aResidualViewIsReadByItsValues() {
        Tensor x = Fixtures.values(5, -1, 1, 2, 16, 9, 9).to(DType.F32), w = Fixtures.values(6, -0.3, 0.3, 16, 16, 3, 3).to(DType.F32);
        ConvOptions o = ConvOptions.of(1, 1);
        Tensor res = Fixtures.values(7, -1, 1, 2, 16, 9, 9).to(DType.F32).transpose(2, 3);
        assertArrayEquals(x.conv2d(w, null, o).addRelu(res).toFloatArray(), Fused.conv2dAddRelu(x, w, null, res, o).toFloatArray());
    }

    /** Finite differences in float64 through x, weight, bias and residual, on cases whose sums stay clear of the ReLU's kink. */
    @Property(tries = 30, maxDiscardRatio = 20)
    void gradients(@ForAll long seed) {
        Conv2dTest.Case c = Conv2dTest.Case.random(seed, 3, 3);
        Tensor x = c.x(seed), w = c.weight(seed), b = c.biasTensor(seed);
        Tensor conv = x.conv2d(w, b, c.o()), res = Fixtures.values(seed + 4, -1, 1, conv.shape().toArray());
        double[] sum = conv.add(res).toArray();
        Assume.that(java.util.Arrays.stream(sum).allMatch(v -> Math.abs(v) > 0.02));
        if (b == null) GradCheck.check("conv2dAddRelu " + c, in -> Fused.conv2dAddRelu(in.get(0), in.get(1), null, in.get(2), c.o()), x, w, res);
        else GradCheck.check("conv2dAddRelu " + c, in -> Fused.conv2dAddRelu(in.get(0), in.get(1), in.get(2), in.get(3), c.o()), x, w, b, res);
    }

    @Test
    void aResidualOfAnotherShapeOrTypeIsAClearError() {
        Tensor x = Tensor.zeros(1, 2, 5, 5), w = Tensor.zeros(3, 2, 3, 3);
        ConvOptions o = ConvOptions.of(1, 1);
        assertEquals("conv2dAddRelu: residual [1, 3, 4, 5] does not match the output [1, 3, 5, 5]",
                assertThrows(IllegalArgumentException.class, () -> Fused.conv2dAddRelu(x, w, null, Tensor.zeros(1, 3, 4, 5), o)).getMessage());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Fused.conv2dAddRelu(x, w, null, Tensor.zeros(1, 3, 5, 5).to(x.dtype() == DType.F32 ? DType.F64 : DType.F32), o));
        assertTrue(e.getMessage().startsWith("conv2dAddRelu: "), e.getMessage());
    }

    /** Fused and composed, forward and the gradients of x, weight, bias and residual, compared to the bit. */
    private static void assertSameAsComposition(String what, Tensor x, Tensor w, Tensor b, ConvOptions o, long seed) {
        Shape outShape = x.conv2d(w, b, o).shape();
        Tensor res = Fixtures.values(seed + 5, -1, 1, outShape.toArray()).to(x.dtype());
        Tensor x1 = x.copy().requiresGrad(true), w1 = w.copy().requiresGrad(true), r1 = res.copy().requiresGrad(true);
        Tensor x2 = x.copy().requiresGrad(true), w2 = w.copy().requiresGrad(true), r2 = res.copy().requiresGrad(true);
        Tensor b1 = b == null ? null : b.copy().requiresGrad(true), b2 = b == null ? null : b.copy().requiresGrad(true);
        Tensor fused = Fused.conv2dAddRelu(x1, w1, b1, r1, o), plain = x2.conv2d(w2, b2, o).addRelu(r2);
        assertArrayEquals(plain.toArray(), fused.toArray(), 0.0, what);
        Tensor up = Fixtures.values(seed + 3, -1, 1, outShape.toArray()).to(x.dtype());
        fused.backward(up);
        plain.backward(up);
        assertArrayEquals(x2.grad().toArray(), x1.grad().toArray(), 0.0, what + " d/dx");
        assertArrayEquals(w2.grad().toArray(), w1.grad().toArray(), 0.0, what + " d/dw");
        assertArrayEquals(r2.grad().toArray(), r1.grad().toArray(), 0.0, what + " d/dresidual");
        if (b != null) assertArrayEquals(b2.grad().toArray(), b1.grad().toArray(), 0.0, what + " d/db");
    }
}
