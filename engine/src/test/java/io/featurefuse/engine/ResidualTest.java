package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.SplittableRandom;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * batchNormAddRelu and conv2dBatchNormAddRelu, a residual block's end in one op: the same bits as
 * batchNorm (twice, with a projection shortcut), addRelu and conv2d called one by one, forward,
 * running statistics and every gradient; finite differences in float64.
 */
class ResidualTest {

    /** A batch norm's leaves: weight, bias (requiring grad), running mean and var, all for c channels (BasicBlockTest's too). */
    static Tensor[] bn(long seed, int c, DType dtype) {
        return new Tensor[] {Fixtures.values(seed, 0.5, 1.5, c).to(dtype).requiresGrad(true), Fixtures.values(seed + 1, -1, 1, c).to(dtype).requiresGrad(true),
                Fixtures.values(seed + 2, -1, 1, c).to(dtype), Fixtures.values(seed + 3, 0.5, 2, c).to(dtype)};
    }

    static BatchNormSpec spec(Tensor[] bn, boolean training) {
        return new BatchNormSpec(bn[2], bn[3], bn[0], bn[1], training, 0.1, 1e-5);
    }

    private static Tensor plainBn(Tensor x, Tensor[] bn, boolean training) {
        return x.batchNorm(bn[2], bn[3], bn[0], bn[1], training, 0.1, 1e-5);
    }

    /** Identity and projection shortcuts, float32 and float64, training and eval, planes of 1 to 40 x 40 values. */
    @Property(tries = 30)
    void theFusedEndIsBatchNormThenAddRelu(@ForAll long seed) {
        int[] s = NormTest.shape(seed, 40);
        for (DType dtype : DType.values())
            for (boolean training : new boolean[] {true, false})
                for (boolean projection : new boolean[] {false, true}) {
                    String what = dtype + (training ? " train " : " eval ") + (projection ? "projection " : "identity ") + java.util.Arrays.toString(s);
                    Tensor[] fx = {Fixtures.values(seed, -2, 2, s).to(dtype).requiresGrad(true), Fixtures.values(seed + 1, -2, 2, s).to(dtype).requiresGrad(true)};
                    Tensor[] px = {fx[0].detach().copy().requiresGrad(true), fx[1].detach().copy().requiresGrad(true)};
                    Tensor[] fb = bn(seed + 2, s[1], dtype), pb = bn(seed + 2, s[1], dtype), fsb = bn(seed + 6, s[1], dtype), psb = bn(seed + 6, s[1], dtype);
                    Tensor fused = projection ? Fused.batchNormAddRelu(fx[0], spec(fb, training), fx[1], spec(fsb, training))
                            : Fused.batchNormAddRelu(fx[0], spec(fb, training), fx[1]);
                    Tensor plain = plainBn(px[0], pb, training).addRelu(projection ? plainBn(px[1], psb, training) : px[1]);
                    assertArrayEquals(plain.toArray(), fused.toArray(), 0.0, what);
                    Tensor up = Fixtures.values(seed + 9, -1, 1, s).to(dtype);
                    fused.backward(up);
                    plain.backward(up);
                    for (int i = 0; i < 2; i++) assertArrayEquals(px[i].grad().toArray(), fx[i].grad().toArray(), 0.0, what + " d/dx" + i);
                    for (int k = 0; k < 2; k++) assertArrayEquals(pb[k].grad().toArray(), fb[k].grad().toArray(), 0.0, what + " bn grad " + k);
                    for (int k = 2; k < 4; k++) assertArrayEquals(pb[k].toArray(), fb[k].toArray(), 0.0, what + " running stats");
                    for (int k = 0; k < 4 && projection; k++)
                        assertArrayEquals(k < 2 ? psb[k].grad().toArray() : psb[k].toArray(), k < 2 ? fsb[k].grad().toArray() : fsb[k].toArray(), 0.0,
                                what + " shortcut bn " + k);
                }
    }

    /** With the convolutions: a 3x3 conv and, for a projection, a strided 1x1 one, as in ResNet's blocks. */
    @Property(tries = 20)
    void theFusedConvEndIsConvBatchNormThenAddRelu(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = 2 + r.nextInt(3), cin = 1 + r.nextInt(9), k = 1 + r.nextInt(9), side = 2 + r.nextInt(15), stride = 1 + r.nextInt(2);
        boolean projection = stride == 2 || r.nextBoolean(), training = r.nextInt(4) > 0;
        int out = (side - 1) / stride + 1;
        ConvOptions o = ConvOptions.of(stride, 1), so = ConvOptions.of(stride, 0);
        for (DType dtype : DType.values()) {
            String what = dtype + " " + cin + "->" + k + " " + side + "/" + stride + (projection ? " projection" : " identity") + (training ? " train" : " eval");
            Tensor x0 = Fixtures.values(seed, -1, 1, n, projection ? cin : k, side, side).to(dtype);
            Tensor w0 = Fixtures.values(seed + 1, -0.4, 0.4, k, projection ? cin : k, 3, 3).to(dtype), sw0 = Fixtures.values(seed + 2, -0.4, 0.4, k, cin, 1, 1).to(dtype);
            Tensor[] f = {x0.copy().requiresGrad(true), w0.copy().requiresGrad(true), sw0.copy().requiresGrad(true)};
            Tensor[] p = {x0.copy().requiresGrad(true), w0.copy().requiresGrad(true), sw0.copy().requiresGrad(true)};
            Tensor[] fb = bn(seed + 3, k, dtype), pb = bn(seed + 3, k, dtype), fsb = bn(seed + 7, k, dtype), psb = bn(seed + 7, k, dtype);
            Tensor fused = projection ? Fused.conv2dBatchNormAddRelu(f[0], f[1], null, o, spec(fb, training), f[0], f[2], null, so, spec(fsb, training))
                    : Fused.conv2dBatchNormAddRelu(f[0], f[1], null, o, spec(fb, training), f[0]);
            Tensor plain = plainBn(p[0].conv2d(p[1], null, o), pb, training).addRelu(projection ? plainBn(p[0].conv2d(p[2], null, so), psb, training) : p[0]);
            assertEquals(List.of(n, k, out, out), java.util.Arrays.stream(fused.shape().toArray()).boxed().toList(), what);
            assertArrayEquals(plain.toArray(), fused.toArray(), 0.0, what);
            Tensor up = Fixtures.values(seed + 9, -1, 1, plain.shape().toArray()).to(dtype);
            fused.backward(up);
            plain.backward(up);
            for (int i = 0; i < (projection ? 3 : 2); i++) assertArrayEquals(p[i].grad().toArray(), f[i].grad().toArray(), 0.0, what + " grad " + i);
            for (int i = 0; i < 4; i++) {
                assertArrayEquals(i < 2 ? pb[i].grad().toArray() : pb[i].toArray(), i < 2 ? fb[i].grad().toArray() : fb[i].toArray(), 0.0, what + " bn " + i);
                if (projection)
                    assertArrayEquals(i < 2 ? psb[i].grad().toArray() : psb[i].toArray(), i < 2 ? fsb[i].grad().toArray() : fsb[i].toArray(), 0.0,
                            what + " shortcut bn " + i);
            }
        }
    }

    @Property(tries = 10, maxDiscardRatio = 20)
    void gradients(@ForAll long seed) {
        int[] s = NormTest.shape(seed, 3);
        int c = s[1];
        Tensor x = Fixtures.values(seed, -2, 2, s), y = Fixtures.values(seed + 1, -2, 2, s);
        Tensor w = Fixtures.values(seed + 2, 0.5, 1.5, c), b = Fixtures.values(seed + 3, -1, 1, c);
        Tensor sw = Fixtures.values(seed + 4, 0.5, 1.5, c), sb = Fixtures.values(seed + 5, -1, 1, c);
        double[] identity = x.batchNorm(null, null, w, b, true, 0.1, 1e-5).add(y).toArray();
        double[] projection = x.batchNorm(null, null, w, b, true, 0.1, 1e-5).add(y.batchNorm(null, null, sw, sb, true, 0.1, 1e-5)).toArray();
        Assume.that(java.util.Arrays.stream(identity).allMatch(v -> Math.abs(v) > 0.02) && java.util.Arrays.stream(projection).allMatch(v -> Math.abs(v) > 0.02));
        GradCheck.check("batchNormAddRelu identity",
                in -> Fused.batchNormAddRelu(in.get(0), new BatchNormSpec(null, null, in.get(1), in.get(2), true, 0.1, 1e-5), in.get(3)), x, w, b, y);
        GradCheck.check("batchNormAddRelu projection", in -> Fused.batchNormAddRelu(in.get(0), new BatchNormSpec(null, null, in.get(1), in.get(2), true, 0.1, 1e-5),
                in.get(3), new BatchNormSpec(null, null, in.get(4), in.get(5), true, 0.1, 1e-5)), x, w, b, y, sw, sb);
    }

    @Test
    void badArgumentsAreClearErrors() {
        Tensor x = Tensor.zeros(2, 3, 4, 4);
        BatchNormSpec bn = new BatchNormSpec(null, null, null, null, true, 0.1, 1e-5);
        assertEquals("batchNormAddRelu: shortcut [2, 3, 4, 5] does not match the input [2, 3, 4, 4]",
                assertThrows(IllegalArgumentException.class, () -> Fused.batchNormAddRelu(x, bn, Tensor.zeros(2, 3, 4, 5))).getMessage());
        assertEquals("batchNormAddRelu: weight [4] does not match 3 channels", assertThrows(IllegalArgumentException.class,
                () -> Fused.batchNormAddRelu(x, new BatchNormSpec(null, null, Tensor.ones(4), null, true, 0.1, 1e-5), x)).getMessage());
        assertEquals("batchNormAddRelu (shortcut): evaluation needs running statistics", assertThrows(IllegalArgumentException.class,
                () -> Fused.batchNormAddRelu(x, bn, x, new BatchNormSpec(null, null, null, null, false, 0.1, 1e-5))).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Fused.batchNormAddRelu(x.to(DType.F32), bn, x.to(DType.F64)));
        assertEquals("conv2d: input [2, 3, 4, 4] has 3 channels but weight [3, 2, 3, 3] expects 2 (groups 1)", assertThrows(IllegalArgumentException.class,
                () -> Fused.conv2dBatchNormAddRelu(x, Tensor.zeros(3, 2, 3, 3), null, ConvOptions.of(1, 1), bn, x)).getMessage());
    }
}
