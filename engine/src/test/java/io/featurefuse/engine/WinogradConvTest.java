package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import io.featurefuse.engine.cpu.Conv2dKernels;
import io.featurefuse.engine.cpu.ConvGeom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/** conv2d's Winograd routes, F(2x2, 3x3) and F(4x4, 3x3): forward and gradients against the float64 direct loops. */
class WinogradConvTest {
    /**
     * Wide 3x3 stride-1 layers run as Winograd F(2x2, 3x3): forward (with bias, and with ReLU
     * bit-for-bit relu of the plain output), input and weight gradients against the float64
     * direct loops, on odd sizes, paddings 0-2 and groups; every case asserts it took that path.
     */
    @Property(tries = 25)
    void winogradLayersMatchReference(@ForAll long seed) {
        checkWinograd(seed, false);
    }

    /**
     * The same for the layers whose forward (and input gradient, the flipped convolution) runs as
     * F(4x4, 3x3): maps up to 40 wide, so tiles of 4 cross the padding on every side and the
     * last tile row and column are partly junk; held to the same tolerance as F(2x2).
     */
    @Property(tries = 25)
    void winogradF4LayersMatchReference(@ForAll long seed) {
        checkWinograd(seed, true);
    }

    private static void checkWinograd(long seed, boolean f4) {
        SplittableRandom r = new SplittableRandom(seed);
        int groups = 1 + r.nextInt(2), pad = r.nextInt(3);
        ConvOptions o = new ConvOptions(1, 1, pad, pad, 1, 1, groups);
        int n = 1 + r.nextInt(3), cin = groups * (16 + r.nextInt(20)), k = groups * (16 + r.nextInt(20)), h, w;
        ConvGeom g;
        do { // sizes whose tiles are mostly real outputs: the ones Winograd takes, in the tile size asked for
            h = 5 + r.nextInt(f4 ? 36 : 24);
            w = 5 + r.nextInt(f4 ? 36 : 24);
            g = new ConvGeom(n, cin, h, w, k, 3, 3, h + 2 * pad - 2, w + 2 * pad - 2, 1, 1, pad, pad, 1, 1, groups);
        } while (!Conv2dKernels.usesWinograd(g) || Conv2dKernels.usesWinograd4x4(g) != f4);
        Tensor x = Fixtures.values(seed, -1, 1, n, cin, h, w), wt = Fixtures.values(seed + 1, -1, 1, k, cin / groups, 3, 3);
        Tensor b = r.nextBoolean() ? Fixtures.values(seed + 2, -1, 1, k) : null;
        Tensor rx = x.copy().requiresGrad(true), rw = wt.copy().requiresGrad(true);
        Tensor fx = x.to(DType.F32).requiresGrad(true), fw = wt.to(DType.F32).requiresGrad(true);
        Tensor fb = b == null ? null : b.to(DType.F32);
        Tensor ref = rx.conv2d(rw, b, o), fast = fx.conv2d(fw, fb, o);
        String what = (f4 ? "winograd F(4x4) conv2d " : "winograd conv2d ") + x.shape() + " " + wt.shape() + " " + o;
        assertClose(what, fast, ref, 2e-6 * cin / groups * 9, 1e-5);
        assertArrayEquals(fast.relu().toFloatArray(), Fused.conv2dRelu(x.to(DType.F32), wt.to(DType.F32), fb, o).toFloatArray(), what + " relu");
        Tensor up = Fixtures.values(seed + 3, -1, 1, ref.shape().toArray());
        ref.backward(up);
        fast.backward(up.to(DType.F32));
        assertClose(what + " d/dx", fx.grad(), rx.grad(), 2e-6 * k / groups * 9, 1e-5);
        assertClose(what + " d/dw", fw.grad(), rw.grad(), 2e-6 * n * ref.size(2) * ref.size(3), 1e-5);
    }

    /**
     * The Winograd weight gradients sum their transform-domain partials over several images per
     * chunk (more images than chunks) and over several steps of tiles (a plane of more tiles than
     * one step takes): F(2x2) on 66 images of 14x14 and on a 10x10 map of 256 channels (two
     * steps of 16 tiles); F(4x4) on 66 images of 28x28, on 34x34 and on 66x66 (three steps of 112
     * tiles with 8-float vectors). All against the float64 direct loops; each case asserts its
     * tile size, the same at every vector width (the choice counts tiles rounded to vectors).
     */
    @Test
    void winogradWeightGradientSumsImagesAndTileSteps() {
        for (int[] c : new int[][] {{66, 14, 16, 0}, {1, 10, 256, 0}, {66, 28, 16, 1}, {1, 34, 16, 1}, {1, 66, 16, 1}}) {
            int n = c[0], hw = c[1], ch = c[2];
            ConvOptions o = ConvOptions.of(1, 1);
            ConvGeom g = new ConvGeom(n, ch, hw, hw, ch, 3, 3, hw, hw, 1, 1, 1, 1, 1, 1, 1);
            assertEquals(true, Conv2dKernels.usesWinograd(g));
            assertEquals(c[3] == 1, Conv2dKernels.usesWinograd4x4(g), "F(4x4) on " + hw + "x" + hw);
            Tensor x = Fixtures.values(n + hw, -1, 1, n, ch, hw, hw), wt = Fixtures.values(7, -1, 1, ch, ch, 3, 3);
            Tensor rw = wt.copy().requiresGrad(true), fw = wt.to(DType.F32).requiresGrad(true);
            Tensor up = Fixtures.values(8, -1, 1, n, ch, hw, hw);
            x.conv2d(rw, null, o).backward(up);
            x.to(DType.F32).conv2d(fw, null, o).backward(up.to(DType.F32));
            assertClose("winograd d/dw " + x.shape(), fw.grad(), rw.grad(), 2e-6 * n * hw * hw, 1e-5);
        }
    }

    /**
     * A Winograd forward task runs several images as one row of tile panels, so a panel holds the
     * end of one image and the start of the next, their pieces ending off a vector: 14x14 in
     * F(2x2) and 28x28 in F(4x4), 56 tiles an image (with 8-float vectors two images make 7 panels
     * of 16, with 16-float vectors four make 7 of 32), and 22x22, in F(4x4) with 16-float vectors
     * 42 tiles (three make 4 panels of 32, the middle one's last vector past its image's 48), in
     * F(2x2) with 8-float vectors 132 (four make 33 panels of 16). Enough images that tasks
     * take that many (a task takes fewer where the threads would go without), an odd count so the
     * last task is short, and over 64 so the gradients' chunks (whose input gradient runs the
     * flipped forward) take two. Forward and both gradients against the float64 loops.
     */
    @Test
    void winogradForwardTasksSpanImages() {
        ConvOptions o = ConvOptions.of(1, 1);
        int n = Math.max(67, 4 * io.featurefuse.engine.cpu.Parallel.threads() + 3);
        for (int hw : new int[] {14, 28, 22}) {
            ConvGeom g = new ConvGeom(n, 16, hw, hw, 16, 3, 3, hw, hw, 1, 1, 1, 1, 1, 1, 1);
            assertEquals(true, Conv2dKernels.usesWinograd(g));
            if (hw != 22) assertEquals(hw == 28, Conv2dKernels.usesWinograd4x4(g), "F(4x4) on " + hw + "x" + hw);
            Conv2dTest.assertMatchesReference("winograd", Fixtures.values(31 + hw, -1, 1, n, 16, hw, hw), Fixtures.values(32, -1, 1, 16, 16, 3, 3),
                    Fixtures.values(33, -1, 1, 16), o, 34, 2e-6 * 16 * 9, 2e-6 * 16 * 9);
        }
    }
}
