package io.featurefuse.engine;

import static io.featurefuse.engine.ResidualTest.bn;
import static io.featurefuse.engine.ResidualTest.spec;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.featurefuse.engine.cpu.Conv2dKernels;
import io.featurefuse.engine.cpu.ConvGeom;
import io.featurefuse.engine.cpu.Parallel;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * Fused.basicBlock against the two fused ops it replaced in a ResNet block (conv2dBatchNorm with ReLU, then
 * conv2dBatchNormAddRelu): the same output, gradients of every leaf and running statistics, to the bit, whether
 * its first norm and second conv ran by chunks of images (Winograd layers with a chunk for every thread) or not.
 */
class BasicBlockTest {

    /** One block's leaves: x, w1, w2, the shortcut's weight, then the three norms' tensors (see bn). */
    private record Leaves(Tensor x, Tensor w1, Tensor w2, Tensor sw, Tensor[] b1, Tensor[] b2, Tensor[] sb) {
        static Leaves of(long seed, int n, int cin, int c, int side, DType dtype) {
            return new Leaves(Fixtures.values(seed, -1, 1, n, cin, side, side).to(dtype).requiresGrad(true),
                    Fixtures.values(seed + 1, -0.3, 0.3, c, cin, 3, 3).to(dtype).requiresGrad(true),
                    Fixtures.values(seed + 2, -0.3, 0.3, c, c, 3, 3).to(dtype).requiresGrad(true),
                    Fixtures.values(seed + 3, -0.4, 0.4, c, cin, 1, 1).to(dtype).requiresGrad(true),
                    bn(seed + 4, c, dtype), bn(seed + 8, c, dtype), bn(seed + 12, c, dtype));
        }

        Tensor[] all() {
            return new Tensor[] {x, w1, w2, sw, b1[0], b1[1], b1[2], b1[3], b2[0], b2[1], b2[2], b2[3], sb[0], sb[1], sb[2], sb[3]};
        }
    }

    /** The block as BasicBlock ran it before Fused.basicBlock: conv2dBatchNorm (relu), then conv2dBatchNormAddRelu. */
    private static Tensor twoOps(Leaves l, ConvOptions o1, boolean projection, boolean training) {
        Tensor y1 = Fused.conv2dBatchNorm(l.x, l.w1, null, o1, l.b1[2], l.b1[3], l.b1[0], l.b1[1], training, 0.1, 1e-5, true);
        ConvOptions o2 = ConvOptions.of(1, 1);
        if (!projection) return Fused.conv2dBatchNormAddRelu(y1, l.w2, null, o2, spec(l.b2, training), l.x);
        return Fused.conv2dBatchNormAddRelu(y1, l.w2, null, o2, spec(l.b2, training), l.x, l.sw, null, ConvOptions.of(o1.strideH(), 0), spec(l.sb, training));
    }

    private static Tensor block(Leaves l, ConvOptions o1, boolean projection, boolean training) {
        ConvSpec c1 = new ConvSpec(l.w1, null, o1), c2 = new ConvSpec(l.w2, null, ConvOptions.of(1, 1));
        if (!projection) return Fused.basicBlock(l.x, c1, spec(l.b1, training), c2, spec(l.b2, training), null, null);
        return Fused.basicBlock(l.x, c1, spec(l.b1, training), c2, spec(l.b2, training), new ConvSpec(l.sw, null, ConvOptions.of(o1.strideH(), 0)),
                spec(l.sb, training));
    }

    /**
     * Identity and projection (stride 1 or 2) shortcuts, training and eval, float32 and float64; channel counts and
     * sizes where the second conv runs by Winograd F(2x2) or F(4x4), batches from one chunk for every thread up (so
     * the chunked route runs, checked by its count) and below it (so it does not).
     */
    @Property(tries = 12)
    void theBlockIsItsTwoFusedOps(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int c = 16 + r.nextInt(9), stride = 1 + r.nextInt(2), side = 6 + r.nextInt(26);
        boolean projection = stride == 2 || r.nextBoolean();
        int cin = projection ? 8 + r.nextInt(20) : c, out = (side - 1) / stride + 1;
        ConvOptions o1 = ConvOptions.of(stride, 1);
        ConvGeom g2 = new ConvGeom(Parallel.threads() * 2 + 1, c, out, out, c, 3, 3, out, out, 1, 1, 1, 1, 1, 1, 1);
        int n = 1 + r.nextInt(Parallel.threads() * 2 + 2);
        boolean chunks = Conv2dKernels.forwardTakesChunks(new ConvGeom(n, c, out, out, c, 3, 3, out, out, 1, 1, 1, 1, 1, 1, 1));
        for (DType dtype : DType.values())
            for (boolean training : new boolean[] {true, false}) {
                String what = dtype + " " + n + "x" + cin + "->" + c + " " + side + "/" + stride + (projection ? " projection" : " identity")
                        + (training ? " train" : " eval") + (chunks ? " by chunks" : "") + " (Winograd: " + Conv2dKernels.usesWinograd(g2) + ")";
                Leaves f = Leaves.of(seed, n, cin, c, side, dtype), p = Leaves.of(seed, n, cin, c, side, dtype);
                long before = BlockOps.CHUNKED.get();
                Tensor fused = block(f, o1, projection, training), plain = twoOps(p, o1, projection, training);
                assertEquals(chunks && dtype == DType.F32 ? 1 : 0, BlockOps.CHUNKED.get() - before, what + ": chunked blocks");
                assertArrayEquals(plain.toArray(), fused.toArray(), 0.0, what);
                Tensor up = Fixtures.values(seed + 20, -1, 1, plain.shape().toArray()).to(dtype);
                fused.backward(up);
                plain.backward(up);
                Tensor[] fa = f.all(), pa = p.all();
                for (int i = 0; i < fa.length; i++) {
                    if (i == 3 && !projection || i >= 12 && !projection) continue;
                    boolean grad = fa[i].requiresGrad();
                    if (grad) assertArrayEquals(pa[i].grad().toArray(), fa[i].grad().toArray(), 0.0, what + " gradient of leaf " + i);
                    else assertArrayEquals(pa[i].toArray(), fa[i].toArray(), 0.0, what + " running statistic " + i);
                }
            }
    }

    /**
     * With a stem (conv, norm, ReLU) before the block, against conv2dBatchNorm (relu) then the block's two fused ops: the
     * same bits, the stem's and the block's leaves' gradients and running statistics included; the block's first conv
     * reads the stem norm's output by chunks where it runs by chunks (identity blocks of 16+ channels), counted.
     */
    @Property(tries = 8)
    void aStemThenTheBlockIsTheirFusedOps(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int c = 16 + r.nextInt(9), side = 6 + r.nextInt(24), n = 1 + r.nextInt(Parallel.threads() * 2 + 2), cin = 1 + r.nextInt(3);
        boolean projection = r.nextBoolean(), training = r.nextInt(4) > 0;
        int stride = projection ? 1 + r.nextInt(2) : 1, out = (side - 1) / stride + 1;
        ConvOptions o1 = ConvOptions.of(stride, 1);
        boolean firstChunks = stride == 1 && Conv2dKernels.forwardTakesChunks(new ConvGeom(n, c, side, side, c, 3, 3, side, side, 1, 1, 1, 1, 1, 1, 1));
        boolean secondChunks = Conv2dKernels.forwardTakesChunks(new ConvGeom(n, c, out, out, c, 3, 3, out, out, 1, 1, 1, 1, 1, 1, 1));
        for (DType dtype : DType.values()) {
            String what = dtype + " " + n + "x" + cin + "->" + c + " " + side + "/" + stride + (projection ? " projection" : " identity") + (training ? " train" : " eval");
            Tensor[] fs = stem(seed, cin, c, dtype), ps = stem(seed, cin, c, dtype);
            Leaves f = Leaves.of(seed, n, c, c, side, dtype), p = Leaves.of(seed, n, c, c, side, dtype);
            Tensor fx = Fixtures.values(seed + 30, -1, 1, n, cin, side, side).to(dtype).requiresGrad(true), px = fx.detach().copy().requiresGrad(true);
            long before = BlockOps.CHUNKED.get();
            ConvSpec c1 = new ConvSpec(f.w1, null, o1), c2 = new ConvSpec(f.w2, null, ConvOptions.of(1, 1)), stemConv = new ConvSpec(fs[0], null, ConvOptions.of(1, 1));
            Tensor fused = projection
                    ? Fused.basicBlock(fx, stemConv, spec(stemBn(fs), training), c1, spec(f.b1, training), c2, spec(f.b2, training),
                            new ConvSpec(f.sw, null, ConvOptions.of(stride, 0)), spec(f.sb, training))
                    : Fused.basicBlock(fx, stemConv, spec(stemBn(fs), training), c1, spec(f.b1, training), c2, spec(f.b2, training), null, null);
            long chunked = BlockOps.CHUNKED.get() - before;
            Tensor y0 = Fused.conv2dBatchNorm(px, ps[0], null, ConvOptions.of(1, 1), ps[3], ps[4], ps[1], ps[2], training, 0.1, 1e-5, true);
            Tensor plain = twoOps(new Leaves(y0, p.w1, p.w2, p.sw, p.b1, p.b2, p.sb), o1, projection, training);
            int expected = dtype == DType.F32 ? (firstChunks ? 1 : 0) + (secondChunks ? 1 : 0) : 0;
            assertEquals(expected, chunked, what + ": chunked passes");
            assertArrayEquals(plain.toArray(), fused.toArray(), 0.0, what);
            Tensor up = Fixtures.values(seed + 20, -1, 1, plain.shape().toArray()).to(dtype);
            fused.backward(up);
            plain.backward(up);
            assertArrayEquals(px.grad().toArray(), fx.grad().toArray(), 0.0, what + " d/dx");
            for (int i = 0; i < 5; i++)
                assertArrayEquals(i < 3 ? ps[i].grad().toArray() : ps[i].toArray(), i < 3 ? fs[i].grad().toArray() : fs[i].toArray(), 0.0, what + " stem " + i);
            Tensor[] fa = f.all(), pa = p.all();
            for (int i = 1; i < fa.length; i++) {
                if (i == 3 && !projection || i >= 12 && !projection) continue;
                if (fa[i].requiresGrad()) assertArrayEquals(pa[i].grad().toArray(), fa[i].grad().toArray(), 0.0, what + " gradient of leaf " + i);
                else assertArrayEquals(pa[i].toArray(), fa[i].toArray(), 0.0, what + " running statistic " + i);
            }
        }
    }

    /** A stem's leaves: conv weight, norm weight and bias (requiring grad), running mean and var. */
    private static Tensor[] stem(long seed, int cin, int c, DType dtype) {
        Tensor[] bn = bn(seed + 40, c, dtype);
        return new Tensor[] {Fixtures.values(seed + 44, -0.5, 0.5, c, cin, 3, 3).to(dtype).requiresGrad(true), bn[0], bn[1], bn[2], bn[3]};
    }

    private static Tensor[] stemBn(Tensor[] stem) {
        return new Tensor[] {stem[1], stem[2], stem[3], stem[4]};
    }

    /** The reference model's first block (32 channels, 28x28, F(4x4)) at batch 8: by chunks, the same bits. */
    @Test
    void theReferenceBlockRunsByChunks() {
        int n = Math.max(8, 2 * Parallel.threads());
        Leaves f = Leaves.of(5, n, 32, 32, 28, DType.F32), p = Leaves.of(5, n, 32, 32, 28, DType.F32);
        assertEquals(true, Conv2dKernels.usesWinograd4x4(new ConvGeom(n, 32, 28, 28, 32, 3, 3, 28, 28, 1, 1, 1, 1, 1, 1, 1)));
        long before = BlockOps.CHUNKED.get();
        Tensor fused = block(f, ConvOptions.of(1, 1), false, true), plain = twoOps(p, ConvOptions.of(1, 1), false, true);
        assertEquals(1, BlockOps.CHUNKED.get() - before);
        assertArrayEquals(plain.toFloatArray(), fused.toFloatArray());
        Tensor up = Fixtures.values(7, -1, 1, n, 32, 28, 28).to(DType.F32);
        fused.backward(up);
        plain.backward(up);
        assertArrayEquals(p.x.grad().toFloatArray(), f.x.grad().toFloatArray());
        assertArrayEquals(p.w1.grad().toFloatArray(), f.w1.grad().toFloatArray());
        assertArrayEquals(p.w2.grad().toFloatArray(), f.w2.grad().toFloatArray());
    }

    @Test
    void aShortcutConvNeedsItsNorm() {
        Leaves l = Leaves.of(1, 2, 4, 4, 6, DType.F32);
        ConvSpec c = new ConvSpec(l.w2, null, ConvOptions.of(1, 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Fused.basicBlock(l.x, c, spec(l.b1, true), c, spec(l.b2, true), new ConvSpec(l.sw, null, ConvOptions.of(1, 0)), null));
        assertEquals("basicBlock: give both the shortcut's conv and its batch norm, or neither", e.getMessage());
    }
}
