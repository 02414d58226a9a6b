package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * Buffer reuse must be invisible in the numbers: backwardAndRecycle() gives bit for bit the
 * gradients of backward(), step after step while the pool lends the same arrays around, on a
 * graph that passes gradients through unchanged (add), as views (reshape, narrow, permute) and
 * uses one tensor several times. What it recycles refuses to be read, with a sentence.
 */
class RecycleTest {

    /** One step of a small CNN-like graph with every kind of gradient sharing; returns the loss. */
    static Tensor step(Tensor x, Tensor w, Tensor scale, Tensor[] keep) {
        Tensor a = x.conv2d(w, null, ConvOptions.of(1, 1));
        Tensor rm = Tensor.zeros(w.size(0)), rv = Tensor.ones(w.size(0));
        Tensor b = a.batchNorm(rm, rv, null, null, true, 0.1, 1e-5).relu();
        Tensor c = b.add(a.mul(scale));                     // a twice; add hands its gradient on as is
        Tensor v = c.reshape(c.size(0), -1).narrow(1, 0, c.numel() / c.size(0) / 2); // views of c
        Tensor p = c.maxPool2d(PoolOptions.of(2)).permute(0, 2, 3, 1).sigmoid();
        Tensor cat = Tensor.concat(List.of(b, c), 1).tanh();
        if (keep != null) keep[0] = cat;
        Tensor late = c.reshape(-1).narrow(0, 1, c.numel() - 1).exp().mean(); // a view of c that backward reaches late
        return c.pow(2).mean().add(v.pow(2).mean()).add(p.sum().mul(1e-3)).add(cat.mean()).add(late).add(c.mul(c).mean());
    }

    static double[][] train(boolean recycle, int n, int c, int hw, int steps) {
        Tensor x = Fixtures.values(1, -1, 1, n, c, hw, hw).to(DType.F32);
        Tensor w = Fixtures.values(2, -0.3, 0.3, c, c, 3, 3).to(DType.F32).requiresGrad(true);
        Tensor scale = Fixtures.values(3, 0.5, 1.5, 1, c, 1, 1).to(DType.F32).requiresGrad(true);
        double[] losses = new double[steps];
        for (int s = 0; s < steps; s++) {
            w.zeroGrad();
            scale.zeroGrad();
            Tensor loss = step(x, w, scale, null);
            if (recycle) loss.backwardAndRecycle();
            else loss.backward();
            losses[s] = loss.item();
            try (var off = GradMode.off()) {
                w.assign(w.sub(w.grad().mul(0.1)));
                scale.assign(scale.sub(scale.grad().mul(0.1)));
            }
        }
        return new double[][] {losses, w.toArray(), scale.toArray()};
    }

    @Property(tries = 8)
    void recyclingGivesTheSameTrainingBitForBit(@ForAll @IntRange(min = 1, max = 4) int n, @ForAll @IntRange(min = 1, max = 9) int c,
                                                @ForAll @IntRange(min = 2, max = 40) int hw) {
        double[][] plain = train(false, n, c, hw, 3), recycled = train(true, n, c, hw, 3);
        for (int k = 0; k < plain.length; k++) assertArrayEquals(plain[k], recycled[k], 0.0);
    }

    @Test
    void bigStepsBorrowFromThePool() {
        long before = BufferPool.reusedCount();
        train(true, 4, 8, 48, 3); // 4*8*48*48 = 73,728 floats a map: above the pool's minimum
        assertTrue(BufferPool.reusedCount() > before, "a second step reuses the first step's buffers");
    }

    /**
     * A tensor two convolutions read gets two gradients, summed into a new buffer: both go back to
     * the pool. Steady-state steps of that graph must miss the pool no more often than the same
     * graph whose second convolution reads the input instead (before, the second gradient was left
     * to the collector: one fresh array every step; 12.8 MB in the reference model's stride-2 block).
     */
    @Test
    void aTensorUsedTwiceLeavesNoGradientToTheCollector() {
        assertEquals(steadyMisses(false), steadyMisses(true), "pool misses per steady step, one reader vs two");
    }

    /**
     * Max pooling's argmax (an int per output, read only by its backward) goes back to the pool
     * as well: steady steps miss it no more often than the same graph with average pooling
     * (before, two fresh argmax arrays a step in the reference model, 10 MB/s of its allocations).
     */
    @Test
    void maxPoolingLeavesNoArgmaxToTheCollector() {
        assertEquals(poolingMisses(false), poolingMisses(true), "pool misses per steady step, average vs max pooling");
    }

    private static long poolingMisses(boolean max) {
        Tensor x = Fixtures.values(1, -1, 1, 4, 8, 96, 96).to(DType.F32);
        Tensor w = Fixtures.values(2, -0.3, 0.3, 8, 8, 3, 3).to(DType.F32).requiresGrad(true);
        long before = 0;
        for (int s = 0; s < 5; s++) {
            if (s == 3) before = BufferPool.missCount();
            Tensor a = x.conv2d(w, null, ConvOptions.of(1, 1)); // 4 x 8 x 48 x 48 pooled: above the pool's minimum
            (max ? a.maxPool2d(PoolOptions.of(2)) : a.avgPool2d(PoolOptions.of(2))).mean().backwardAndRecycle();
            w.zeroGrad();
        }
        return BufferPool.missCount() - before;
    }

    private static long steadyMisses(boolean twice) {
        Tensor x = Fixtures.values(1, -1, 1, 4, 8, 48, 48).to(DType.F32);
        Tensor w0 = Fixtures.values(2, -0.3, 0.3, 8, 8, 3, 3).to(DType.F32).requiresGrad(true);
        Tensor w1 = Fixtures.values(3, -0.3, 0.3, 8, 8, 3, 3).to(DType.F32).requiresGrad(true);
        Tensor w2 = Fixtures.values(4, -0.3, 0.3, 8, 8, 1, 1).to(DType.F32).requiresGrad(true);
        long before = 0;
        for (int s = 0; s < 5; s++) {
            if (s == 3) before = BufferPool.missCount();
            Tensor a = x.conv2d(w0, null, ConvOptions.of(1, 1));
            // the same graph either way; only what the second convolution reads differs (x needs no gradient)
            a.conv2d(w1, null, ConvOptions.of(1, 1)).add((twice ? a : x).conv2d(w2, null, ConvOptions.of(1, 0))).mean().backwardAndRecycle();
            for (Tensor w : new Tensor[] {w0, w1, w2}) w.zeroGrad();
        }
        return BufferPool.missCount() - before;
    }

    /**
     * A pool full of one model's buffers must not make the next model run out of memory: with the
     * pool at its capacity (60% of the heap), live tensors of another size for 70% of the heap fit
     * only because the collector takes pooled arrays back.
     */
    @Test
    void pooledArraysYieldToMemoryPressure() {
        int n = 1 << 22; // 16 MB of floats
        try {
            for (long b = 0; b + 4L * n <= BufferPool.capacityBytes(); b += 4L * n) BufferPool.give(new float[n]);
            assertTrue(BufferPool.pooledBytes() > BufferPool.capacityBytes() / 2, "the pool filled up");
            List<Tensor> live = new java.util.ArrayList<>();
            for (long b = 0; b < Runtime.getRuntime().maxMemory() * 0.7; b += 4L * (n + 1)) live.add(Tensor.zeros(n + 1));
            assertTrue(live.size() > 10);
        } finally {
            BufferPool.clear();
        }
    }

    @Test
    void readingARecycledIntermediateIsAClearError() {
        Tensor x = Fixtures.values(1, -1, 1, 2, 4, 8, 8).to(DType.F32);
        Tensor w = Fixtures.values(2, -0.3, 0.3, 4, 4, 3, 3).to(DType.F32).requiresGrad(true);
        Tensor scale = Tensor.ones(1, 4, 1, 1).requiresGrad(true);
        Tensor[] keep = new Tensor[1];
        Tensor loss = step(x, w, scale, keep);
        double before = loss.item();
        loss.backwardAndRecycle();
        var e = assertThrows(IllegalStateException.class, () -> keep[0].toArray());
        assertTrue(e.getMessage().contains("'tanh'") && e.getMessage().contains("backwardAndRecycle"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> keep[0].detach().sum());
        assertEquals(before, loss.item(), 0.0, "the root stays readable");
        assertEquals(w.numel(), w.grad().toArray().length, "leaf gradients stay readable");
        assertEquals(x.numel(), x.toArray().length, "inputs stay readable");
    }

    @Test
    void recycleHandsBackOnlyAnOwnedBufferOutsideTheGraph() {
        Tensor owned = Tensor.ones(4, 5);
        Tensor view = owned.reshape(20);
        view.recycle(); // a view: nothing happens
        assertEquals(20.0, owned.sum().item(), 0.0);
        owned.recycle();
        var e = assertThrows(IllegalStateException.class, () -> view.sum());
        assertTrue(e.getMessage().contains("handed back for reuse"), e.getMessage());
        Tensor leaf = Tensor.ones(3).requiresGrad(true);
        Tensor inGraph = leaf.mul(2);
        leaf.recycle();
        inGraph.recycle();
        inGraph.sum().backward();
        assertArrayEquals(new double[] {2, 2, 2}, leaf.grad().toArray(), 0.0, "parameters and graph outputs are kept");
    }

    @Test
    void anOutputIsRecycledOnlyAfterBackwardReleasedItsGraph() {
        Tensor x = Tensor.ones(3).requiresGrad(true);
        Tensor y = x.mul(2);
        y.recycle(); // still in a graph: kept
        y.backward(Tensor.ones(3), true);
        y.recycle(); // the graph was retained: kept
        assertArrayEquals(new double[] {2, 2, 2}, y.toArray(), 0.0);
        y.backward(Tensor.ones(3));
        y.recycle();
        var e = assertThrows(IllegalStateException.class, () -> y.sum());
        assertTrue(e.getMessage().contains("handed back for reuse"), e.getMessage());
    }

    @Test
    void plainBackwardLeavesEverythingReadable() {
        Tensor x = Fixtures.values(1, -1, 1, 2, 4, 8, 8).to(DType.F32).requiresGrad(true);
        Tensor y = x.mul(2).add(x).relu();
        Tensor g = Tensor.ones(2, 4, 8, 8);
        y.backward(g);
        assertEquals(y.numel(), y.toArray().length);
        assertEquals(512.0, g.sum().item(), 0.0, "the caller's gradient is not recycled");
        assertEquals(x.numel(), x.grad().toArray().length);
    }
}
