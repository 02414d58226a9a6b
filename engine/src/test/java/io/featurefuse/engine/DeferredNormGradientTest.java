package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.featurefuse.engine.cpu.Conv2dKernels;
import io.featurefuse.engine.cpu.ConvGeom;
import io.featurefuse.engine.cpu.Parallel;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * A batch norm whose input comes from a conv and goes nowhere else hands its input gradient to that conv, which
 * makes it chunk by chunk as its own backward reads it (NormOps.Deferral, Autograd): the bits of the same graph
 * with a product by 1 between the two, where the gradient is made as a tensor first.
 */
class DeferredNormGradientTest {

    /**
     * Batch norm plain, with ReLU, with ReLU and a max or an average pool, added to an identity or a projected and
     * normalised shortcut before a ReLU (both norms deferred where they can be), in training or evaluation, after convs whose
     * input gradients take each chunked route (Winograd, phase planes with strides 1 and 2), with the conv's input read
     * by another op too (its gradient then added in the conv's pass) or not, and batches of 1 to 3 images a chunk.
     */
    @Property(tries = 40)
    void deferredGradientsHaveTheBitsOfMadeOnes(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        compare(seed, r, r.nextInt(3), r.nextInt(6), r.nextBoolean() ? 1 + r.nextInt(4) : 64 + r.nextInt(80));
    }

    /** Residual blocks (as the reference ResNet's) on batches whose buffers the pool takes back: those the deferred gradients read must stay. */
    @Property(tries = 10)
    void residualBlocksKeepWhatTheirDeferredGradientsRead(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        compare(seed, r, 0, 4 + r.nextInt(2), 64 + r.nextInt(40));
    }

    /** A graph kept for a second backward defers again, and each leaf's gradient is then twice the first (a float doubled exactly). */
    @Test
    void aKeptGraphDefersAgain() {
        Tensor x = Fixtures.values(5, -1, 1, Math.max(3, Parallel.threads()), 16, 12, 12).to(DType.F32).requiresGrad(true);
        Tensor w = Fixtures.values(6, -0.5, 0.5, 16, 16, 3, 3).to(DType.F32).requiresGrad(true);
        Tensor gamma = Tensor.ones(16).requiresGrad(true), beta = Tensor.zeros(16).requiresGrad(true);
        Tensor y = Fused.batchNormRelu(x.conv2d(w, null, new ConvOptions(1, 1, 1, 1, 1, 1, 1)), Tensor.zeros(16), Tensor.ones(16), gamma, beta, true, 0.1,
                1e-5);
        Tensor up = Fixtures.values(7, -1, 1, y.shape().toArray()).to(DType.F32);
        long before = NormOps.DEFERRED.get();
        y.backward(up, true);
        float[][] first = {x.grad().toFloatArray(), w.grad().toFloatArray(), gamma.grad().toFloatArray(), beta.grad().toFloatArray()};
        y.backward(up, true);
        assertEquals(before + 2, NormOps.DEFERRED.get(), "deferred in both");
        float[][] second = {x.grad().toFloatArray(), w.grad().toFloatArray(), gamma.grad().toFloatArray(), beta.grad().toFloatArray()};
        for (int i = 0; i < first.length; i++) {
            float[] twice = first[i].clone();
            for (int j = 0; j < twice.length; j++) twice[j] *= 2;
            assertArrayEquals(twice, second[i], "leaf " + i);
        }
    }

    /** Concat fusion's head: a 1x1 conv over two maps where they lie, then batch norm, ReLU and a global average pool. */
    @Property(tries = 8)
    void theConcatHeadDefersToItsConv(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        // at least an image a thread: the parts route (and so the head's own conv) needs one
        int n = r.nextBoolean() ? Math.max(2 + r.nextInt(4), Parallel.threads()) : 64 + r.nextInt(70), a = 2 + r.nextInt(20), b = 2 + r.nextInt(30), k = 2 + r.nextInt(40), side = 2 + r.nextInt(7);
        List<Tensor> base = List.of(Fixtures.values(seed, -1, 1, n, a, side, side).to(DType.F32), Fixtures.values(seed + 1, -1, 1, n, b, side, side).to(DType.F32),
                Fixtures.values(seed + 2, -0.5, 0.5, k, a + b, 1, 1).to(DType.F32), Fixtures.values(seed + 3, 0.5, 1.5, k).to(DType.F32),
                Fixtures.values(seed + 4, -0.5, 0.5, k).to(DType.F32));
        long before = NormOps.DEFERRED.get();
        List<Tensor> deferred = head(base, t -> t);
        long deferrals = NormOps.DEFERRED.get() - before;
        List<Tensor> made = head(base, t -> t.mul(Tensor.scalar(1)));
        String what = "n " + n + " maps " + a + "+" + b + " k " + k + " side " + side;
        assertEquals(1, deferrals, what + ": deferred to the conv");
        for (int i = 0; i < deferred.size(); i++) assertArrayEquals(made.get(i).toFloatArray(), deferred.get(i).toFloatArray(), what + ": result " + i);
    }

    private static List<Tensor> head(List<Tensor> base, Function<Tensor, Tensor> between) {
        List<Tensor> in = new ArrayList<>();
        for (Tensor t : base) in.add(t.copy().requiresGrad(true));
        int k = in.get(2).shape().dim(0);
        BatchNormSpec bn = new BatchNormSpec(Tensor.zeros(k), Tensor.ones(k), in.get(3), in.get(4), true, 0.1, 1e-5);
        Tensor y = Fused.batchNormReluPool(between.apply(Fused.conv2dOfConcat(in.subList(0, 2), in.get(2), null, new ConvOptions(1, 1, 0, 0, 1, 1, 1))), bn);
        Tensor output = y.detach().copy();
        y.mul(Fixtures.values(19, -1, 1, y.shape().toArray()).to(DType.F32)).sum().backwardAndRecycle();
        List<Tensor> out = new ArrayList<>(List.of(output, bn.runningMean(), bn.runningVar()));
        for (Tensor t : in) out.add(t.grad());
        return out;
    }

    /**
     * conv, norm (plain or with ReLU), conv, norm with ReLU: the second conv makes the first norm's gradient sums' terms
     * as it makes its input gradient, chunk by chunk (NormOps.PlaneGradientSums), where that norm's output has no
     * other reader and its own gradient is deferred; the bits of the graph with products by 1 between, where neither
     * happens. Batches from fewer images than a chunk for every thread up.
     */
    @Property(tries = 12)
    void aNormTakesItsSumsFromTheConvAfterIt(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = 1 + r.nextInt(3 * Parallel.threads()), c = 16 + r.nextInt(5), k = 16 + r.nextInt(5), side = 8 + r.nextInt(12);
        boolean relu = r.nextBoolean(), shared = r.nextInt(4) == 0, training = r.nextInt(4) > 0;
        List<Tensor> base = List.of(Fixtures.values(seed, -1, 1, n, c, side, side).to(DType.F32), Fixtures.values(seed + 1, -0.4, 0.4, k, c, 3, 3).to(DType.F32),
                Fixtures.values(seed + 2, -0.4, 0.4, k, k, 3, 3).to(DType.F32), Fixtures.values(seed + 3, 0.5, 1.5, k).to(DType.F32),
                Fixtures.values(seed + 4, -0.5, 0.5, k).to(DType.F32));
        String what = "n " + n + " c " + c + " k " + k + " side " + side + (relu ? " relu" : " plain") + (shared ? " shared" : "") + (training ? " training" : " eval");
        long before = NormOps.PRESUMMED.get();
        List<Tensor> ahead = chain(base, relu, shared, training, t -> t);
        long presummed = NormOps.PRESUMMED.get() - before;
        List<Tensor> made = chain(base, relu, shared, training, t -> t.mul(Tensor.scalar(1)));
        assertEquals(before + presummed, NormOps.PRESUMMED.get(), what + ": not summed ahead behind products");
        boolean chunks = Conv2dKernels.takesChunks(new ConvGeom(n, k, side, side, k, 3, 3, side, side, 1, 1, 1, 1, 1, 1, 1));
        assertEquals(chunks && !shared ? 1 : 0, presummed, what + ": summed ahead where both convs run by chunks and the norm's output has one reader");
        for (int i = 0; i < ahead.size(); i++) assertArrayEquals(made.get(i).toFloatArray(), ahead.get(i).toFloatArray(), what + ": result " + i);
    }

    /** conv, norm, conv, norm with ReLU on fresh leaves of base's values, between after each conv: the output, then each leaf's gradient. */
    private static List<Tensor> chain(List<Tensor> base, boolean relu, boolean shared, boolean training, Function<Tensor, Tensor> between) {
        List<Tensor> in = new ArrayList<>();
        for (Tensor t : base) in.add(t.copy().requiresGrad(true));
        int k = base.get(1).shape().dim(0);
        ConvOptions o = ConvOptions.of(1, 1);
        Tensor x = in.get(0).mul(Tensor.scalar(1)), z1 = between.apply(x.conv2d(in.get(1), null, o));
        Tensor y1 = relu ? Fused.batchNormRelu(z1, Tensor.zeros(k), Tensor.ones(k), in.get(3), in.get(4), training, 0.1, 1e-5)
                : z1.batchNorm(Tensor.zeros(k), Tensor.ones(k), in.get(3), in.get(4), training, 0.1, 1e-5);
        Tensor z2 = between.apply(y1.conv2d(in.get(2), null, o));
        Tensor y2 = Fused.batchNormRelu(z2, Tensor.zeros(k), Tensor.ones(k), null, null, training, 0.1, 1e-5);
        Tensor loss = y2.mul(Fixtures.values(19, -1, 1, y2.shape().toArray()).to(DType.F32)).sum();
        // a second reader of the first norm's output, its gradient made before the second conv's or after it
        if (shared) loss = loss.add(y1.mul(y1).sum());
        if (shared) loss = y1.mul(Fixtures.values(23, -1, 1, y1.shape().toArray()).to(DType.F32)).sum().add(loss);
        Tensor output = y2.detach().copy();
        loss.backwardAndRecycle();
        List<Tensor> out = new ArrayList<>(List.of(output));
        for (Tensor t : in) out.add(t.grad());
        return out;
    }

    private static void compare(long seed, SplittableRandom r, int family, int norm, int n) {
        boolean training = r.nextInt(4) > 0, shared = r.nextBoolean(), convShared = r.nextInt(5) == 0, constant = r.nextBoolean();
        int c = family == 0 ? 16 + r.nextInt(5) : 1 + r.nextInt(6), k = family == 0 ? 16 + r.nextInt(5) : 2 + r.nextInt(6);
        if (family == 0 && r.nextBoolean()) k = c; // the conv's input gradient then fits the norm's incoming one: a buffer it must not get early
        int side = family == 0 ? 10 + r.nextInt(10) : 4 + r.nextInt(8), kernel = family == 2 ? 5 : 3, stride = family == 1 ? 2 : 1;
        ConvOptions o = new ConvOptions(stride, stride, kernel / 2, kernel / 2, 1, 1, 1);
        List<Tensor> base = List.of(Fixtures.values(seed, -1, 1, n, c, side, side).to(DType.F32), Fixtures.values(seed + 1, -0.5, 0.5, k, c, kernel, kernel).to(DType.F32),
                Fixtures.values(seed + 2, 0.5, 1.5, k).to(DType.F32), Fixtures.values(seed + 3, -0.5, 0.5, k).to(DType.F32),
                Fixtures.values(seed + 4, -1, 1, n, c, side, side).to(DType.F32),
                Fixtures.values(seed + 5, -1, 1, n, k, (side - 1) / stride + 1, (side - 1) / stride + 1).to(DType.F32),
                Fixtures.values(seed + 6, -0.5, 0.5, k, c, 1, 1).to(DType.F32), Fixtures.values(seed + 7, 0.5, 1.5, k).to(DType.F32),
                Fixtures.values(seed + 8, -0.5, 0.5, k).to(DType.F32));
        String what = "family " + family + " norm " + norm + " training " + training + " shared " + shared + " conv shared " + convShared + " constant " + constant + " n " + n + " c " + c + " side " + side;
        long before = NormOps.DEFERRED.get();
        List<Tensor> deferred = run(base, norm, training, shared, convShared, constant, o, t -> t);
        long deferrals = NormOps.DEFERRED.get() - before;
        List<Tensor> made = run(base, norm, training, shared, convShared, constant, o, t -> t.mul(Tensor.scalar(1)));
        int out = (int) ConvGeom.outSize(side, kernel, stride, kernel / 2, 1);
        boolean chunks = Conv2dKernels.takesChunks(new ConvGeom(n, c, side, side, k, kernel, kernel, out, out, stride, stride, kernel / 2, kernel / 2, 1, 1, 1));
        boolean shortcutChunks = norm == 5 && Conv2dKernels.takesChunks(new ConvGeom(n, c, side, side, k, 1, 1, out, out, stride, stride, 0, 0, 1, 1, 1));
        assertEquals(chunks && !convShared || shortcutChunks ? 1 : 0, deferrals, what + ": deferred where a conv runs by chunks and its output has one reader");
        assertEquals(before + deferrals, NormOps.DEFERRED.get(), what + ": not deferred behind a product");
        for (int i = 0; i < deferred.size(); i++) assertArrayEquals(made.get(i).toFloatArray(), deferred.get(i).toFloatArray(), what + ": result " + i);
    }

    /** Runs conv, between, the norm and a weighted sum (plus x's and conv's second readers where asked) on fresh leaves of base's values: the output, then each leaf's gradient. */
    private static List<Tensor> run(List<Tensor> base, int norm, boolean training, boolean shared, boolean convShared, boolean constant, ConvOptions o,
                                    Function<Tensor, Tensor> between) {
        List<Tensor> in = new ArrayList<>();
        for (Tensor t : base.subList(0, 4)) in.add(t.copy().requiresGrad(true));
        in.add(base.get(5).copy().requiresGrad(true)); // an identity shortcut that is not x
        for (Tensor t : base.subList(6, 9)) in.add(t.copy().requiresGrad(true)); // the projection's weight, its norm's weight and bias
        // x made by an op, as a block's input is: its waiting gradient is then summed (in place where a conv can)
        Tensor x = in.get(0).mul(Tensor.scalar(1)), conv = between.apply(x.conv2d(in.get(1), null, o));
        int k = conv.shape().dim(1);
        BatchNormSpec bn = new BatchNormSpec(Tensor.zeros(k), Tensor.ones(k), in.get(2), in.get(3), training, 0.1, 1e-5);
        Tensor y = switch (norm) {
            case 0 -> conv.batchNorm(bn.runningMean(), bn.runningVar(), bn.weight(), bn.bias(), training, 0.1, 1e-5);
            case 1 -> Fused.batchNormRelu(conv, bn.runningMean(), bn.runningVar(), bn.weight(), bn.bias(), training, 0.1, 1e-5);
            case 2 -> Fused.batchNormReluMaxPool2d(conv, bn, PoolOptions.of(2));
            case 3 -> Fused.batchNormReluPool(conv, bn);
            // an identity shortcut: x where it fits (its gradient then also takes the conv's, added in place), else a leaf or a constant
            case 4 -> Fused.batchNormAddRelu(conv, bn, x.shape().equals(conv.shape()) ? x : constant ? base.get(5) : in.get(4));
            default -> {
                Tensor projected = between.apply(x.conv2d(in.get(5), null, new ConvOptions(o.strideH(), o.strideW(), 0, 0, 1, 1, 1)));
                BatchNormSpec second = new BatchNormSpec(Tensor.zeros(k), Tensor.ones(k), in.get(6), in.get(7), training, 0.1, 1e-5);
                yield Fused.batchNormAddRelu(conv, bn, projected, second);
            }
        };
        Tensor up = Fixtures.values(17, -1, 1, y.shape().toArray()).to(DType.F32);
        Tensor loss = y.mul(up).sum();
        if (shared) loss = loss.add(x.mul(base.get(4)).sum());
        if (convShared) loss = loss.add(conv.mul(conv).sum()); // a second reader of the conv's output: its gradient is made as a tensor
        Tensor output = y.detach().copy();
        // recycling as training does: buffers a deferred gradient still needs must not go back to the pool early
        loss.backwardAndRecycle();
        List<Tensor> out = new ArrayList<>(List.of(output, bn.runningMean(), bn.runningVar()));
        for (Tensor t : in) out.add(t.grad() == null ? Tensor.zeros(1) : t.grad()); // leaves this norm does not use have none
        return out;
    }
}
