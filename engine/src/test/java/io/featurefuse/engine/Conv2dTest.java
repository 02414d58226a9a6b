package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import io.featurefuse.engine.cpu.Conv2dKernels;
import io.featurefuse.engine.cpu.ConvGeom;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/** conv2d: fast float32 (im2col + GEMM) against the float64 direct loops, and gradient checks. */
class Conv2dTest {

    /** A random valid configuration: odd sizes, strides, paddings, dilations, groups (depthwise too). */
    record Case(int n, int c, int h, int w, int k, int r, int s, ConvOptions o, boolean bias) {
        static Case random(long seed, int maxSide, int maxChannels) {
            SplittableRandom rnd = new SplittableRandom(seed);
            while (true) {
                int groups = 1 + rnd.nextInt(3);
                boolean depthwise = rnd.nextInt(5) == 0;
                int cg = depthwise ? 1 : 1 + rnd.nextInt(maxChannels), kg = depthwise ? 1 + rnd.nextInt(2) : 1 + rnd.nextInt(maxChannels);
                if (depthwise) groups = 1 + rnd.nextInt(4);
                int r = 1 + rnd.nextInt(4), s = 1 + rnd.nextInt(4);
                ConvOptions o = new ConvOptions(1 + rnd.nextInt(3), 1 + rnd.nextInt(3), rnd.nextInt(3), rnd.nextInt(3),
                        1 + rnd.nextInt(2), 1 + rnd.nextInt(2), groups);
                Case c = new Case(1 + rnd.nextInt(3), cg * groups, 1 + rnd.nextInt(maxSide), 1 + rnd.nextInt(maxSide),
                        kg * groups, r, s, o, rnd.nextBoolean());
                if (ConvGeom.outSize(c.h, r, o.strideH(), o.padH(), o.dilationH()) >= 1
                        && ConvGeom.outSize(c.w, s, o.strideW(), o.padW(), o.dilationW()) >= 1) return c;
            }
        }

        Tensor x(long seed) { return Fixtures.values(seed, -1, 1, n, c, h, w); }
        Tensor weight(long seed) { return Fixtures.values(seed + 1, -1, 1, k, c / o.groups(), r, s); }
        Tensor biasTensor(long seed) { return bias ? Fixtures.values(seed + 2, -1, 1, k) : null; }
    }

    @Property(tries = 80)
    void fastMatchesReferenceForwardAndBackward(@ForAll long seed) {
        Case c = Case.random(seed, 13, 5);
        Tensor x = c.x(seed), w = c.weight(seed), b = c.biasTensor(seed);
        String what = "conv2d " + c;
        Tensor ref = x.conv2d(w, b, c.o);
        Tensor fx = x.to(DType.F32).requiresGrad(true), fw = w.to(DType.F32).requiresGrad(true);
        Tensor fb = b == null ? null : b.to(DType.F32).requiresGrad(true);
        Tensor fast = fx.conv2d(fw, fb, c.o);
        int crs = c.c / c.o.groups() * c.r * c.s;
        assertClose(what, fast, ref, 2e-6 * crs, 1e-5);

        Tensor up = Fixtures.values(seed + 3, -1, 1, ref.shape().toArray());
        Tensor rx = x.copy().requiresGrad(true), rw = w.copy().requiresGrad(true), rb = b == null ? null : b.copy().requiresGrad(true);
        rx.conv2d(rw, rb, c.o).backward(up);
        fast.backward(up.to(DType.F32));
        int fanOut = c.k / c.o.groups() * c.r * c.s;
        assertClose(what + " d/dx", fx.grad(), rx.grad(), 2e-6 * fanOut, 1e-5);
        assertClose(what + " d/dw", fw.grad(), rw.grad(), 2e-6 * c.n * ref.size(2) * ref.size(3), 1e-5);
        if (b != null) assertClose(what + " d/db", fb.grad(), rb.grad(), 1e-5 * ref.numel(), 1e-5);
    }

    /**
     * 1x1 stride-2 unpadded layers (projection shortcuts), whose input gradient is written in one pass (even rows
     * zipped with zeros, odd rows zeros): odd and even sides, rows narrower and wider than two vectors.
     */
    @Property(tries = 20)
    void pointwiseStrideTwoLayersMatchReference(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int lanes = io.featurefuse.engine.cpu.Simd.L, n = Math.max(2, io.featurefuse.engine.cpu.Parallel.threads());
        int c = 1 + r.nextInt(12), k = 1 + r.nextInt(12), h = 1 + r.nextInt(2 * lanes + 9), w = 1 + r.nextInt(4 * lanes + 9);
        ConvOptions o = new ConvOptions(2, 2, 0, 0, 1, 1, 1);
        Tensor x = Fixtures.values(seed, -1, 1, n, c, h, w), wt = Fixtures.values(seed + 1, -1, 1, k, c, 1, 1);
        assertMatchesReference("conv2d 1x1/2 " + c + "->" + k + " " + h + "x" + w, x, wt, null, o, seed + 3, 2e-6 * c, 2e-6 * k);
    }

    /**
     * Stride-1 layers with few taps a channel (C/g R S up to 32) and output rows at least a vector wide take their weight
     * gradient by taps (FewTapsWeightGrad): rows that are whole vectors and rows that end in a partial one, padded or
     * not, grouped, more images than a chunk holds, channel counts that are not a multiple of its block of 4.
     */
    @Property(tries = 40)
    void fewTapLayersMatchReference(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int lanes = io.featurefuse.engine.cpu.Simd.L, groups = 1 + r.nextInt(2), kh = 1 + r.nextInt(5), kw = 1 + r.nextInt(5);
        int cg = 1 + r.nextInt(Math.max(1, 32 / (kh * kw))), kg = 4 + r.nextInt(13), n = 1 + r.nextInt(100);
        if (cg == 1) groups = 1; // one input channel a group is the depthwise route
        ConvOptions o = new ConvOptions(1, 1, r.nextInt(3), r.nextInt(3), 1, 1, groups);
        int ow = lanes + (r.nextBoolean() ? lanes * r.nextInt(2) : r.nextInt(2 * lanes)), oh = 1 + r.nextInt(6);
        int h = oh + kh - 1 - 2 * o.padH(), w = ow + kw - 1 - 2 * o.padW();
        Assume.that(h >= 1 && w >= 1);
        ConvGeom g = new ConvGeom(n, groups * cg, h, w, groups * kg, kh, kw, oh, ow, 1, 1, o.padH(), o.padW(), 1, 1, groups);
        assertTrue(Conv2dKernels.weightGradientByTaps(g), g.toString());
        Tensor x = Fixtures.values(seed, -1, 1, n, groups * cg, h, w), wt = Fixtures.values(seed + 1, -1, 1, groups * kg, cg, kh, kw);
        assertMatchesReference("conv2d", x, wt, null, o, seed + 3, 2e-6 * cg * kh * kw, 2e-6 * kg * kh * kw);
    }

    /**
     * Padded stride-1 layers whose forward runs through TapTiles where the CPU has 32 vector
     * registers (TapTiles add the bias and clamp in their stores): against the float64 loops, and conv2dRelu against conv2d then relu to the bit. Output
     * planes of 48 columns and more, ending in a whole 3-vector tile, one or two one-vector
     * tiles, or an overlapping 3-vector tile; 8 to 20 output channels (the last row block
     * overlaps the one before).
     */
    @Property(tries = 30)
    void tapTileLayersAddBiasAndClampInTheirStores(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int lanes = io.featurefuse.engine.cpu.Simd.L, kh = 1 + r.nextInt(5), kw = 2 + r.nextInt(4), cg = 1 + r.nextInt(3), kg = 8 + r.nextInt(13);
        ConvOptions o = new ConvOptions(1, 1, r.nextInt((kh + 1) / 2), 1 + r.nextInt((kw + 1) / 2), 1, 1, 1);
        // n: an image a thread at least, as the tap tiles' route needs
        int ow = lanes + r.nextInt(3 * lanes), oh = (3 * lanes + ow - 1) / ow + r.nextInt(3), n = Math.max(2 + r.nextInt(3), io.featurefuse.engine.cpu.Parallel.threads());
        int h = oh + kh - 1 - 2 * o.padH(), w = ow + kw - 1 - 2 * o.padW();
        Assume.that(h >= 1 && w >= 1);
        ConvGeom g = new ConvGeom(n, cg, h, w, kg, kh, kw, oh, ow, 1, 1, o.padH(), o.padW(), 1, 1, 1);
        if (io.featurefuse.engine.cpu.Gemm.tileRows() == 8) // TapTiles' tiles are 8 rows (not in the suite's four-row run)
            assertTrue(Conv2dKernels.usesTapTiles(g), g.toString());
        Tensor x = Fixtures.values(seed, -1, 1, n, cg, h, w), wt = Fixtures.values(seed + 1, -1, 1, kg, cg, kh, kw);
        Tensor b = Fixtures.values(seed + 2, -1, 1, kg);
        assertMatchesReference("conv2d", x, wt, b, o, seed + 3, 2e-6 * cg * kh * kw, 2e-6 * kg * kh * kw);
        Tensor xf = x.to(DType.F32), wf = wt.to(DType.F32); // the fixtures are float64, whose kernels are the reference's
        for (Tensor bias : new Tensor[] {b.to(DType.F32), null})
            assertArrayEquals(xf.conv2d(wf, bias, o).relu().toFloatArray(), Fused.conv2dRelu(xf, wf, bias, o).toFloatArray(), g + " relu, bias " + (bias != null));
    }

    /** Stride 1 and dilation 1 with a batch take the implicit-GEMM paths (no im2col matrix), forward and weight gradient. */
    @Property(tries = 40)
    void unitStrideLayersMatchReference(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int groups = 1 + r.nextInt(3), kh = 1 + r.nextInt(5), kw = 1 + r.nextInt(5);
        ConvOptions o = new ConvOptions(1, 1, r.nextInt(3), r.nextInt(3), 1, 1, groups);
        int h = Math.max(1, kh - 2 * o.padH()) + r.nextInt(9), w = Math.max(1, kw - 2 * o.padW()) + r.nextInt(19);
        Tensor x = Fixtures.values(seed, -1, 1, 2 + r.nextInt(3), groups * (1 + r.nextInt(6)), h, w);
        Tensor wt = Fixtures.values(seed + 1, -1, 1, groups * (1 + r.nextInt(9)), x.size(1) / groups, kh, kw);
        Tensor b = r.nextBoolean() ? Fixtures.values(seed + 2, -1, 1, wt.size(0)) : null;
        assertMatchesReference("conv2d", x, wt, b, o, seed + 3, 2e-6 * x.size(1) * kh * kw, 2e-6 * wt.size(0) * kh * kw);
    }

    /**
     * Layers whose output rows are a vector wide or more, computed one GEMM column per output: a
     * vector of a panel then often holds the end of one output row and the start of the next.
     * Rows from half a panel (a vector) to three panels, strides 1-2, kernels 1-5 (padded or
     * not), dilation 1-2, batches that reach the implicit-GEMM route on any thread count.
     */
    @Property(tries = 40)
    void rowsAVectorWideOrMoreMatchReference(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int nr = io.featurefuse.engine.cpu.Gemm.panelWidth(), kh = 1 + r.nextInt(5), kw = 2 + r.nextInt(4), dil = 1 + r.nextInt(2);
        int sh = 1 + r.nextInt(2), sw = 1 + r.nextInt(2);
        ConvOptions o = new ConvOptions(sh, sw, r.nextInt(dil * (kh - 1) / 2 + 1), r.nextInt(dil * (kw - 1) / 2 + 1), dil, dil, 1 + r.nextInt(2));
        int ow = nr / 2 + r.nextInt(5 * nr / 2 + 1), oh = 1 + r.nextInt(4);
        checkLayerWithOutputSize(seed, r, o, kh, kw, oh, ow, 1 + r.nextInt(3), 1 + r.nextInt(9));
    }

    /**
     * Layers for TapTiles (8 x 3-vector tiles over the tap planes, where the CPU has 32 vector
     * registers): 8-20 output channels per group (a last row block that overlaps the one before),
     * output planes of any size from 3 vectors (a last column panel that overlaps), up to 16 input
     * channels of 5x5 (crs 400, past one k block of the GEMM kernels), strides and dilations 1-2.
     */
    @Property(tries = 25)
    void tapTileLayersMatchReference(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int kh = 1 + r.nextInt(5), kw = 2 + r.nextInt(4), dil = 1 + r.nextInt(2), sh = 1 + r.nextInt(2), sw = 1 + r.nextInt(2);
        ConvOptions o = new ConvOptions(sh, sw, dil * (kh - 1) / 2, 1 + r.nextInt(dil * (kw - 1) / 2 + 1), dil, dil, 1 + r.nextInt(2));
        int ow = io.featurefuse.engine.cpu.Simd.L + r.nextInt(40), oh = 3 + r.nextInt(4);
        checkLayerWithOutputSize(seed, r, o, kh, kw, oh, ow, 1 + r.nextInt(16), 8 + r.nextInt(13));
    }

    /**
     * A kh x kw layer with options o sized to give oh x ow outputs, cg input and kg output channels
     * per group, a batch that reaches the implicit-GEMM route on any thread count, and a bias half
     * the time, against the float64 reference.
     */
    private static void checkLayerWithOutputSize(long seed, SplittableRandom r, ConvOptions o, int kh, int kw, int oh, int ow, int cg, int kg) {
        int w = (ow - 1) * o.strideW() + o.dilationW() * (kw - 1) + 1 - 2 * o.padW();
        int h = (oh - 1) * o.strideH() + o.dilationH() * (kh - 1) + 1 - 2 * o.padH();
        int n = Math.max(2, io.featurefuse.engine.cpu.Parallel.threads());
        Tensor x = Fixtures.values(seed, -1, 1, n, o.groups() * cg, h, w);
        Tensor wt = Fixtures.values(seed + 1, -1, 1, o.groups() * kg, cg, kh, kw);
        Tensor b = r.nextBoolean() ? Fixtures.values(seed + 2, -1, 1, wt.size(0)) : null;
        assertMatchesReference("conv2d", x, wt, b, o, seed + 3, 2e-6 * x.size(1) * kh * kw, 2e-6 * wt.size(0) * kh * kw);
    }

    /** 16+ input channels per group take other kernel paths (backward-data as a flipped convolution). */
    @Property(tries = 20)
    void wideLayersMatchReference(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int groups = 1 + r.nextInt(2), ks = 1 + r.nextInt(3);
        boolean unit = r.nextInt(3) > 0; // stride and dilation 1 most of the time
        ConvOptions o = new ConvOptions(unit ? 1 : 2, 1, r.nextInt(ks), r.nextInt(ks), 1, unit ? 1 : 2, groups);
        int cin = groups * (16 + r.nextInt(3)), k = groups * (1 + r.nextInt(5)), h = ks + 2 + r.nextInt(6), w = ks + 2 + r.nextInt(6);
        Tensor x = Fixtures.values(seed, -1, 1, 2, cin, h, w), wt = Fixtures.values(seed + 1, -1, 1, k, cin / groups, ks, ks);
        Tensor fx = x.to(DType.F32).requiresGrad(true), fw = wt.to(DType.F32).requiresGrad(true);
        Tensor rx = x.copy().requiresGrad(true), rw = wt.copy().requiresGrad(true);
        Tensor ref = rx.conv2d(rw, null, o), fast = fx.conv2d(fw, null, o);
        String what = "conv2d " + x.shape() + " " + wt.shape() + " " + o;
        assertClose(what, fast, ref, 2e-5 * cin, 1e-5);
        Tensor up = Fixtures.values(seed + 2, -1, 1, ref.shape().toArray());
        ref.backward(up);
        fast.backward(up.to(DType.F32));
        assertClose(what + " d/dx", fx.grad(), rx.grad(), 2e-5 * k * ks * ks, 1e-5);
        assertClose(what + " d/dw", fw.grad(), rw.grad(), 2e-5 * h * w * 2, 1e-5);
    }

    /**
     * Strided layers with 16+ output channels per group (the other properties stay below 16): odd
     * sizes, strides 2-3 on at least one axis, kernels 1-4, paddings 0-2, groups. A phase-split
     * input gradient (stride-1 sub-convolutions scattered back) was tried against these and
     * dropped: it measured slower than col2im on the model's stride-2 layers.
     */
    @Property(tries = 30)
    void stridedLayersMatchReference(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int groups = 1 + r.nextInt(2), kh = 1 + r.nextInt(4), kw = 1 + r.nextInt(4);
        ConvOptions o = new ConvOptions(2 + r.nextInt(2), 1 + r.nextInt(3), r.nextInt(3), r.nextInt(3), 1, 1, groups);
        int cin = groups * (1 + r.nextInt(4)), k = groups * (16 + r.nextInt(3));
        int h = kh + r.nextInt(9), w = kw + r.nextInt(9);
        Tensor x = Fixtures.values(seed, -1, 1, 1 + r.nextInt(3), cin, h, w), wt = Fixtures.values(seed + 1, -1, 1, k, cin / groups, kh, kw);
        assertMatchesReference("conv2d", x, wt, null, o, seed + 2, 2e-6 * cin * kh * kw, 2e-6 * k * kh * kw);
    }

    /**
     * Stride 2 across rows of 26-60 inputs (2 L and more at any width up to 512 bits, odd and
     * even), paddings 0-2: ImplicitConv splits such rows by column parity in vectors
     * (splitPairs), in the forward and the weight gradient, and the input gradient (col2im, under
     * 16 input channels) adds every other element in vectors (addEveryOther). Batch = threads,
     * so the forward takes the implicit-GEMM path, except 1-wide kernels (they read one column
     * phase): im2col's two forms gather every other input in vectors (everyOther).
     */
    @Property(tries = 25)
    void strideTwoRowsSplitInVectors(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int kh = 1 + r.nextInt(4), kw = 1 + r.nextInt(4), cin = 1 + r.nextInt(3), k = 16 + r.nextInt(3);
        ConvOptions o = new ConvOptions(1 + r.nextInt(2), 2, r.nextInt(3), r.nextInt(3), 1, 1, 1);
        int h = kh + r.nextInt(4), w = 26 + r.nextInt(35), n = Math.max(2, io.featurefuse.engine.cpu.Parallel.threads());
        Tensor x = Fixtures.values(seed, -1, 1, n, cin, h, w), wt = Fixtures.values(seed + 1, -1, 1, k, cin, kh, kw);
        assertMatchesReference("conv2d", x, wt, null, o, seed + 2, 2e-6 * cin * kh * kw, 2e-6 * k * kh * kw);
    }

    /**
     * The implicit-GEMM weight gradient (5x5 and stride-2 layers) sums the images of a chunk: 66 images make two
     * chunks of two, the rest of one (the other tests' batches of 1-3 give every image a chunk of its own, so this
     * sum went untested); against the float64 loops.
     */
    @Test
    void implicitWeightGradientSumsTheImagesOfAChunk() {
        assertMatchesReference("implicit 5x5", Fixtures.values(41, -1, 1, 66, 2, 9, 9), Fixtures.values(42, -1, 1, 3, 2, 5, 5), null,
                ConvOptions.of(1, 2), 43, 2e-6 * 50, 2e-6 * 75);
        assertMatchesReference("implicit stride 2", Fixtures.values(44, -1, 1, 66, 3, 10, 10), Fixtures.values(45, -1, 1, 4, 3, 3, 3), null,
                ConvOptions.of(2, 1), 46, 2e-6 * 27, 2e-6 * 36);
    }

    @Property(tries = 20)
    void gradients(@ForAll long seed) {
        Case c = Case.random(seed, 6, 3);
        Tensor x = c.x(seed), w = c.weight(seed), b = c.biasTensor(seed);
        if (b == null) GradCheck.check("conv2d " + c, in -> in.get(0).conv2d(in.get(1), null, c.o), x, w);
        else GradCheck.check("conv2d " + c, in -> in.get(0).conv2d(in.get(1), in.get(2), c.o), x, w, b);
    }

    /** Depthwise layers (the stride-1 fast paths above all): forward, input and weight gradients against the reference. */
    @Property(tries = 40)
    void depthwiseMatchesReference(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int groups = 1 + r.nextInt(6), mult = r.nextInt(4) == 0 ? 2 : 1, k = r.nextBoolean() ? 3 : 1 + r.nextInt(5);
        int stride = r.nextInt(4) == 0 ? 2 : 1, dil = r.nextInt(4) == 0 ? 2 : 1;
        // half the draws pad to "same" width where the kernel allows it: the flat stride-1 path (DepthwiseSameWidth)
        int pad = r.nextBoolean() && (k - 1) * dil % 2 == 0 ? (k - 1) * dil / 2 : r.nextInt(k);
        ConvOptions o = new ConvOptions(stride, stride, pad, pad, dil, dil, groups);
        int h = (k - 1) * dil + 1 + r.nextInt(12), w = (k - 1) * dil + 1 + r.nextInt(40);
        Tensor x = Fixtures.values(seed, -1, 1, 1 + r.nextInt(3), groups, h, w), wt = Fixtures.values(seed + 1, -1, 1, groups * mult, 1, k, k);
        Tensor b = r.nextBoolean() ? Fixtures.values(seed + 2, -1, 1, groups * mult) : null;
        assertMatchesReference("depthwise", x, wt, b, o, seed + 3, 2e-6 * k * k, 2e-6 * mult * k * k);
    }

    /**
     * An infinity at a row's end (or start) reaches only the outputs whose window covers it: the
     * flat same-width depthwise path reads across row edges and must clear those taps, not
     * multiply them by 0 (0 * inf is NaN in the neighbouring row's output).
     */
    @Test
    void depthwiseInfinityStaysInItsWindow() {
        Tensor x = Fixtures.values(5, -1, 1, 1, 2, 5, 7);
        double[] v = x.toArray();
        v[2 * 7 + 6] = Double.POSITIVE_INFINITY; // channel 0, row 2, last column
        v[35 + 3 * 7] = Double.NEGATIVE_INFINITY; // channel 1, row 3, first column
        x = Tensor.of(v, 1, 2, 5, 7);
        Tensor wt = Fixtures.values(6, 0.5, 1, 2, 1, 3, 3);
        ConvOptions o = new ConvOptions(1, 1, 1, 1, 1, 1, 2);
        double[] ref = x.conv2d(wt, null, o).toArray();
        float[] fast = x.to(DType.F32).conv2d(wt.to(DType.F32), null, o).toFloatArray();
        for (int i = 0; i < ref.length; i++)
            assertEquals(Double.isFinite(ref[i]), Float.isFinite(fast[i]), "output " + i + ": reference " + ref[i] + ", float32 " + fast[i]);
    }

    /**
     * The float32 conv2d (x, wt, bias b or null) against the float64 reference: the output within
     * outTol, d/dx within dxTol, d/dw within 2e-6 per summed product (images x output positions),
     * under an upstream gradient drawn from upSeed.
     */
    static void assertMatchesReference(String label, Tensor x, Tensor wt, Tensor b, ConvOptions o, long upSeed, double outTol,
                                               double dxTol) {
        Tensor rx = x.copy().requiresGrad(true), rw = wt.copy().requiresGrad(true);
        Tensor fx = x.to(DType.F32).requiresGrad(true), fw = wt.to(DType.F32).requiresGrad(true);
        Tensor ref = rx.conv2d(rw, b, o), fast = fx.conv2d(fw, b == null ? null : b.to(DType.F32), o);
        String what = label + " " + x.shape() + " " + wt.shape() + " " + o;
        assertClose(what, fast, ref, outTol, 1e-5);
        Tensor up = Fixtures.values(upSeed, -1, 1, ref.shape().toArray());
        ref.backward(up);
        fast.backward(up.to(DType.F32));
        assertClose(what + " d/dx", fx.grad(), rx.grad(), dxTol, 1e-5);
        assertClose(what + " d/dw", fw.grad(), rw.grad(), 2e-6 * x.size(0) * ref.size(2) * ref.size(3), 1e-5);
    }

    /**
     * 1x1 stride-1 layers write their tiles into the output itself and add the bias there: on
     * planes that are not whole vectors, the last plane's tail must not be read past the array.
     */
    @Test
    void pointwiseBiasOnPlanesOfOddSizes() {
        int n = Math.max(2, io.featurefuse.engine.cpu.Parallel.threads()); // enough images for the implicit-GEMM route
        for (int[] s : new int[][] {{3, 5}, {1, 1}, {7, 9}}) {
            Tensor x = Fixtures.values(s[0], -1, 1, n, 3, s[0], s[1]), wt = Fixtures.values(s[1], -1, 1, 5, 3, 1, 1);
            assertMatchesReference("1x1 with bias", x, wt, Fixtures.values(9, -1, 1, 5), ConvOptions.of(1, 0), 10, 1e-5, 1e-5);
        }
    }

    /**
     * Deep 1x1 stride-1 layers on planes of several panels read in place, the last a partial
     * panel (packed, wider or narrower than a vector); 300 channels take two k blocks,
     * accumulated in the output.
     */
    @Test
    void deepPointwiseLayersOnPlanesOfSeveralPanels() {
        int n = Math.max(2, io.featurefuse.engine.cpu.Parallel.threads());
        for (int[] s : new int[][] {{200, 13, 17}, {300, 15, 15}}) {
            Tensor x = Fixtures.values(s[0], -1, 1, n, s[0], s[1], s[2]), wt = Fixtures.values(s[1], -1, 1, 20, s[0], 1, 1);
            assertMatchesReference("deep 1x1", x, wt, Fixtures.values(9, -1, 1, 20), ConvOptions.of(1, 0), 11, 2e-6 * s[0], 2e-6 * 20);
        }
    }

    /** conv2dRelu is relu(conv2d) to the bit, forward and backward, on every kernel path (small, wide, depthwise). */
    @Property(tries = 40)
    void fusedReluIsExactlyReluOfConv(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Case c = Case.random(seed, r.nextBoolean() ? 24 : 7, 12);
        for (DType dtype : DType.values()) {
            Tensor x1 = c.x(seed).to(dtype).requiresGrad(true), w1 = c.weight(seed).to(dtype).requiresGrad(true);
            Tensor x2 = c.x(seed).to(dtype).requiresGrad(true), w2 = c.weight(seed).to(dtype).requiresGrad(true);
            Tensor b = c.biasTensor(seed) == null ? null : c.biasTensor(seed).to(dtype);
            Tensor fused = Fused.conv2dRelu(x1, w1, b, c.o), plain = x2.conv2d(w2, b, c.o).relu();
            String what = "conv2dRelu " + dtype + " " + c;
            assertArrayEquals(plain.toArray(), fused.toArray(), 0.0, what);
            Tensor up = Fixtures.values(seed + 3, -1, 1, plain.shape().toArray()).to(dtype);
            fused.backward(up);
            plain.backward(up);
            assertArrayEquals(x2.grad().toArray(), x1.grad().toArray(), 0.0, what + " d/dx");
            assertArrayEquals(w2.grad().toArray(), w1.grad().toArray(), 0.0, what + " d/dw");
        }
    }

    /** Finite differences through the fused op, on cases whose outputs stay clear of the ReLU's kink. */
    @Property(tries = 30, maxDiscardRatio = 20)
    void fusedReluGradients(@ForAll long seed) {
        Case c = Case.random(seed, 3, 3);
        Tensor x = c.x(seed), w = c.weight(seed), b = c.biasTensor(seed);
        double[] out = x.conv2d(w, b, c.o).toArray();
        Assume.that(java.util.Arrays.stream(out).allMatch(v -> Math.abs(v) > 0.02));
        if (b == null) GradCheck.check("conv2dRelu " + c, in -> Fused.conv2dRelu(in.get(0), in.get(1), null, c.o), x, w);
        else GradCheck.check("conv2dRelu " + c, in -> Fused.conv2dRelu(in.get(0), in.get(1), in.get(2), c.o), x, w, b);
    }

    @Test
    void knownValues() {
        // 1 x 1 x 3 x 3 input, 2 x 2 kernel of ones, padding 1, stride 2
        Tensor x = Tensor.of(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3);
        Tensor w = Tensor.ones(1, 1, 2, 2);
        Tensor y = x.conv2d(w, Tensor.of(new float[] {10}, 1), ConvOptions.of(2, 1));
        assertEquals(Shape.of(1, 1, 2, 2), y.shape());
        assertArrayEquals(new double[] {11, 15, 21, 38}, y.toArray());
    }

    @Test
    void largeLayerIsDeterministic() {
        Tensor x = Fixtures.values(1, -1, 1, 16, 32, 14, 14).to(DType.F32).requiresGrad(true);
        Tensor w = Fixtures.values(2, -1, 1, 32, 32, 3, 3).to(DType.F32).requiresGrad(true);
        Tensor y1 = x.conv2d(w, null, ConvOptions.of(1, 1)), y2 = x.conv2d(w, null, ConvOptions.of(1, 1));
        assertArrayEquals(y1.toArray(), y2.toArray());
        y1.sum().backward();
        double[] gw1 = w.grad().toArray();
        w.zeroGrad();
        y2.sum().backward();
        assertArrayEquals(gw1, w.grad().toArray());
    }

    @Test
    void badShapesAreClearErrors() {
        Tensor x = Tensor.zeros(2, 3, 8, 8);
        assertEquals("conv2d: input [2, 3, 8, 8] has 3 channels but weight [4, 2, 3, 3] expects 2 (groups 1)",
                assertThrows(IllegalArgumentException.class, () -> x.conv2d(Tensor.zeros(4, 2, 3, 3), null, ConvOptions.defaults())).getMessage());
        assertEquals("conv2d: the 9x9 kernel with dilation 1x1 does not fit the padded input 8x8 of [2, 3, 8, 8]",
                assertThrows(IllegalArgumentException.class, () -> x.conv2d(Tensor.zeros(4, 3, 9, 9), null, ConvOptions.defaults())).getMessage());
        assertEquals("conv2d: input [0, 3, 8, 8] is an empty batch",
                assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(0, 3, 8, 8).conv2d(Tensor.zeros(4, 3, 3, 3), null, ConvOptions.defaults())).getMessage());
        assertThrows(IllegalArgumentException.class, () -> x.conv2d(Tensor.zeros(4, 3, 3, 3), Tensor.zeros(5), ConvOptions.defaults()));
        assertThrows(IllegalArgumentException.class, () -> x.conv2d(Tensor.zeros(4, 1, 3, 3), null, ConvOptions.defaults().withGroups(2)));
        assertThrows(IllegalArgumentException.class, () -> ConvOptions.of(0, 1));
    }
}
