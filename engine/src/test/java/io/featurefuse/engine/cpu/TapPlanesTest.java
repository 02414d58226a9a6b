package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * TapPlanes' contract: tap (c, i, j) of output (y, x) reads the padded input at (y sh + i dh - ph,
 * x sw + j dw - pw), zero outside the image. The planes' buffer is the thread's own and keeps its
 * zeros between fills, so the contract is checked across fills of different geometries on one
 * thread: a layer without padding writes every position, and the padded layer after it must not
 * read that layer's values where its own padding is.
 */
class TapPlanesTest {

    @Test
    void everyFillReadsItsOwnInputAndZerosAfterAnotherGeometry() {
        ConvGeom padded = geometry(1, 28, 28, 5, 1, 2, 1); // 5 planes of 32 x 28, padding at every edge
        ConvGeom unpadded = geometry(1, 32, 32, 5, 1, 0, 1); // the same buffer size, every position written
        ConvGeom strided = geometry(3, 33, 35, 3, 2, 1, 2); // two phases per plane, dilated
        SplittableRandom r = new SplittableRandom(11);
        for (ConvGeom g : new ConvGeom[] {padded, padded, unpadded, padded, strided, unpadded, strided, padded})
            checkFill(g, r);
    }

    private static ConvGeom geometry(int c, int h, int w, int ks, int stride, int pad, int dilation) {
        int oh = (int) ConvGeom.outSize(h, ks, stride, pad, dilation), ow = (int) ConvGeom.outSize(w, ks, stride, pad, dilation);
        return new ConvGeom(2, c, h, w, 4, ks, ks, oh, ow, stride, stride, pad, pad, dilation, dilation, 1);
    }

    /** Fills the planes from the second image of a random batch and checks every tap of every output. */
    private static void checkFill(ConvGeom g, SplittableRandom r) {
        float[] in = new float[g.n() * g.c() * g.h() * g.w()];
        for (int i = 0; i < in.length; i++) in[i] = (float) (0.5 + r.nextDouble()); // never zero
        int src = g.c() * g.h() * g.w();
        TapPlanes taps = TapPlanes.of(g);
        float[] q = taps.fill(in, src, g);
        for (int c = 0; c < g.cg(); c++)
            for (int i = 0; i < g.r(); i++)
                for (int j = 0; j < g.s(); j++)
                    for (int y = 0; y < g.oh(); y++)
                        for (int x = 0; x < g.ow(); x++) {
                            int iy = y * g.sh() + i * g.dh() - g.ph(), ix = x * g.sw() + j * g.dw() - g.pw();
                            boolean inside = iy >= 0 && iy < g.h() && ix >= 0 && ix < g.w();
                            float want = inside ? in[src + (c * g.h() + iy) * g.w() + ix] : 0f;
                            int tap = (c * g.r() + i) * g.s() + j;
                            assertEquals(want, q[taps.shift()[tap] + y * g.ow() + x],
                                    g + ": tap (" + c + ", " + i + ", " + j + ") of output (" + y + ", " + x + ")");
                        }
    }
}
