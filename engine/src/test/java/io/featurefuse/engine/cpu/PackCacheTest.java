package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.ConvOptions;
import io.featurefuse.engine.DType;
import io.featurefuse.engine.GradMode;
import io.featurefuse.engine.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Packed weights kept between calls without recording: a second call with the same weights is
 * served from the cache and gives the same bits; a weight changed in place is packed anew (never
 * served stale); while recording, and for backward's own convolutions, nothing is kept. One shape per packing: Winograd F(4x4, 3x3),
 * F(2x2, 3x3), the tap tiles (or the implicit GEMM's packing with four-row tiles), the implicit GEMM.
 */
class PackCacheTest {

    @ParameterizedTest
    @CsvSource({"64, 64, 14, 3, 1, 1", "48, 96, 7, 3, 1, 1", "1, 32, 28, 5, 2, 1", "32, 64, 28, 3, 1, 2"})
    void sameWeightsAreServedAndChangedOnesArePackedAgain(int c, int k, int hw, int ks, int pad, int stride) {
        SplittableRandom r = new SplittableRandom(5);
        // an image a thread at least: with fewer, the implicit GEMM's layers run another route, which keeps nothing
        Tensor x = Tensor.randn(r, Math.max(4, Parallel.threads()), c, hw, hw), w = Tensor.randn(r, k, c, ks, ks), w2 = Tensor.randn(r, k, c, ks, ks);
        ConvOptions o = ConvOptions.of(stride, pad);
        PackCache.clear();
        try (var off = GradMode.off()) {
            float[] first = x.conv2d(w, null, o).toFloatArray();
            int kept = PackCache.size();
            assertTrue(kept >= 1, "nothing was kept");
            assertArrayEquals(first, x.conv2d(w, null, o).toFloatArray(), "served from the cache");
            assertEquals(kept, PackCache.size(), "the second call packed again");
            w.assign(w2);
            float[] changed = x.conv2d(w, null, o).toFloatArray();
            double[] ref = x.to(DType.F64).conv2d(w2.to(DType.F64), null, o).toArray();
            for (int i = 0; i < ref.length; i++)
                assertEquals(ref[i], changed[i], 1e-3 * (1 + Math.abs(ref[i])), "output " + i + " after the weight changed in place");
        }
        PackCache.clear();
        x.requiresGrad(true).conv2d(w.requiresGrad(true), null, o).sum().backward(); // backward runs without recording, its convolutions too
        assertEquals(0, PackCache.size(), "kept while recording or for backward");
    }
}
