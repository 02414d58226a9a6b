package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.cpu.Conv2dKernels;
import io.featurefuse.engine.cpu.ConvGeom;
import io.featurefuse.engine.cpu.PointwiseParts;
import java.util.SplittableRandom;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * A conv's input and weight gradients made chunk by chunk, each chunk's output gradient handed over just before
 * (Conv2dKernels.backwardOfChunks, PointwiseParts.backwardOfChunks): the bits of backwardData and backwardWeight
 * over the whole output gradient, on every route those take.
 */
class ChunkedBackwardTest {

    /**
     * Routes: Winograd F(2x2) and F(4x4) input gradients (3x3 stride 1, 16+ channels), the flipped conv by the
     * implicit GEMM (stride 1, 16+ channels, 2x2, 4x4 or 5x5 kernels, or 3x3 where Winograd does not take it), the
     * phase planes (strides 1-3, few channels), the 1x1 stride-2 spread, and the weight gradients each of those layers
     * takes (Winograd, tap by tap, implicit GEMM, im2col). Batches below and above the 64 chunks (chunks of 1 to 3
     * images, uneven).
     */
    @Property(tries = 80)
    void chunksGiveTheWholeBatchsBits(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int family = r.nextInt(5), stride = family == 1 ? 2 : family == 3 ? 3 : 1;
        boolean pointwise = family == 2, wide = family == 0 || family == 4;
        int c = wide ? 16 + r.nextInt(9) : 1 + r.nextInt(12), k = wide ? 16 + r.nextInt(9) : 1 + r.nextInt(12);
        int square = family == 4 ? 2 + r.nextInt(4) : 3;
        int kh = wide ? square : pointwise ? 1 : 2 + r.nextInt(2), kw = wide ? square : pointwise ? 1 : 2 + r.nextInt(2);
        int pad = family == 0 ? 1 : family == 4 ? r.nextInt(square) : pointwise ? 0 : r.nextInt(2), s = pointwise ? 2 : stride;
        int n = r.nextBoolean() ? 1 + r.nextInt(8) : 64 + r.nextInt(120), h = 5 + r.nextInt(family == 0 ? 24 : 14), w = 5 + r.nextInt(16);
        int oh = (int) ConvGeom.outSize(h, kh, s, pad, 1), ow = (int) ConvGeom.outSize(w, kw, s, pad, 1);
        ConvGeom g = new ConvGeom(n, c, h, w, k, kh, kw, oh, ow, s, s, pad, pad, 1, 1, 1);
        Assume.that(Conv2dKernels.takesChunks(g));
        float[] dOut = floats(r, n * k * oh * ow), in = floats(r, n * c * h * w), wt = floats(r, k * c * kh * kw);
        boolean adding = Conv2dKernels.addsInputGradient(g) && r.nextBoolean();
        float[] waiting = floats(r, n * c * h * w);

        float[] dIn = adding ? waiting.clone() : new float[waiting.length], dW = new float[wt.length];
        Conv2dKernels.backwardData(dIn, dOut, 0, wt, 0, g, adding);
        Conv2dKernels.backwardWeight(dW, dOut, 0, in, 0, g);

        float[] chunkedIn = adding ? waiting.clone() : new float[waiting.length], chunkedW = new float[wt.length];
        Conv2dKernels.backwardOfChunks(chunkedIn, adding, chunkedW, handOver(dOut, k * oh * ow), wt, 0, in, 0, g);
        assertArrayEquals(dIn, chunkedIn, "input gradient " + g);
        assertArrayEquals(dW, chunkedW, "weight gradient " + g);

        float[] onlyW = new float[wt.length];
        Conv2dKernels.backwardOfChunks(null, false, onlyW, handOver(dOut, k * oh * ow), wt, 0, in, 0, g);
        assertArrayEquals(dW, onlyW, "weight gradient alone " + g);
    }

    /** The reference head: 64 + 96 channels joined, 1x1 to 128 (here at 6x6), a part without a gradient too. */
    @Property(tries = 10)
    void partsGiveTheWholeBatchsBits(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = 2 + r.nextInt(140), hw = 2 + r.nextInt(8), a = 2 + r.nextInt(70), b = 2 + r.nextInt(100), k = 1 + r.nextInt(130);
        ConvGeom g = new ConvGeom(n, a + b, hw, hw, k, 1, 1, hw, hw, 1, 1, 0, 0, 1, 1, 1);
        Assume.that(PointwiseParts.applies(g));
        float[] xa = floats(r, n * a * hw * hw), xb = floats(r, n * b * hw * hw), wt = floats(r, k * (a + b)), dOut = floats(r, n * k * hw * hw);
        PointwiseParts.Parts parts = new PointwiseParts.Parts(new float[][] {xa, xb}, new int[2], new int[] {a, b});
        boolean withB = r.nextBoolean();
        float[][] dIn = {new float[xa.length], withB ? new float[xb.length] : null};
        float[] dW = new float[wt.length];
        PointwiseParts.backwardData(dIn, new int[2], dOut, 0, wt, 0, parts, g);
        Conv2dKernels.backwardWeight(dW, dOut, 0, parts, g);

        float[][] chunkedIn = {new float[xa.length], withB ? new float[xb.length] : null};
        float[] chunkedW = new float[wt.length];
        PointwiseParts.backwardOfChunks(chunkedIn, new int[2], chunkedW, handOver(dOut, k * hw * hw), wt, 0, parts, g);
        assertArrayEquals(dIn[0], chunkedIn[0], "first part " + g);
        if (withB) assertArrayEquals(dIn[1], chunkedIn[1], "second part " + g);
        assertArrayEquals(dW, chunkedW, "weight gradient " + g);
    }

    /** The reference model's layers after which a batch norm and ReLU come, and whose gradients run chunk by chunk. */
    @Test
    void theReferenceModelsLayersRunByChunks() {
        assertTrue(Conv2dKernels.takesChunks(new ConvGeom(128, 32, 28, 28, 32, 3, 3, 28, 28, 1, 1, 1, 1, 1, 1, 1)));
        assertTrue(Conv2dKernels.takesChunks(new ConvGeom(128, 32, 28, 28, 64, 3, 3, 14, 14, 2, 2, 1, 1, 1, 1, 1)));
        assertTrue(Conv2dKernels.takesChunks(new ConvGeom(128, 32, 14, 14, 48, 3, 3, 14, 14, 1, 1, 1, 1, 1, 1, 1)));
        assertTrue(Conv2dKernels.takesChunks(new ConvGeom(128, 1, 28, 28, 32, 5, 5, 28, 28, 1, 1, 2, 2, 1, 1, 1)));
        // 48->96 at 7x7: its input gradient is a 96->48 conv that is not Winograd, by the implicit GEMM
        ConvGeom last = new ConvGeom(128, 48, 7, 7, 96, 3, 3, 7, 7, 1, 1, 1, 1, 1, 1, 1);
        assertFalse(Conv2dKernels.usesWinograd(new ConvGeom(128, 96, 7, 7, 48, 3, 3, 7, 7, 1, 1, 1, 1, 1, 1, 1)));
        assertTrue(Conv2dKernels.takesChunks(last));
    }

    @Test
    void aLayerThatDoesNotRunByChunksSaysSo() {
        ConvGeom grouped = new ConvGeom(2, 4, 5, 5, 4, 3, 3, 5, 5, 1, 1, 1, 1, 1, 1, 2);
        var e = assertThrows(IllegalArgumentException.class,
                () -> Conv2dKernels.backwardOfChunks(null, false, new float[36], (n0, n1, d) -> {}, new float[36], 0, new float[200], 0, grouped));
        assertTrue(e.getMessage().contains("does not run chunk by chunk"), e.getMessage());
    }

    /** Images [n0, n1) of dOut copied into dst, with what lies past them in dst left as it was. */
    private static Conv2dKernels.OutputGradient handOver(float[] dOut, int image) {
        return (n0, n1, dst) -> System.arraycopy(dOut, n0 * image, dst, 0, (n1 - n0) * image);
    }

    private static float[] floats(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        return a;
    }
}
