package io.featurefuse.engine;

import io.featurefuse.engine.cpu.BatchNormKernels;
import io.featurefuse.engine.cpu.Pool2dKernels;

/**
 * Batch norm + ReLU + a pool as one op: a global average pool (a classifier head) or a max pool (a
 * VGG stage's end). The values, the max pool's argmax, the running statistics and the gradients are
 * those of batchNormRelu then adaptiveAvgPool2d(1, 1) or maxPool2d, to the bit. Forward normalises
 * each plane into an L1 scratch and pools it there with the pool's own plane kernel
 * (BatchNormKernels.affineReluPooled), so the normalised map is never written; backward spreads the
 * pool's gradient one plane at a time into scratch for each of BN's two passes, so no gradient of
 * x's size is written or read. float64, the reference, composes the kernels through full-size maps.
 */
final class PooledNormOps {
    private PooledNormOps() {}

    /** The pooled op on x [N, C, H, W]: a global average pool when maxPool is null, else that max pool; statistics from planes when given. */
    static Tensor batchNormReluPool(Tensor x, BatchNormSpec bn, NormOps.PlaneStatistics planes, PoolOptions maxPool) {
        String op = maxPool == null ? "batchNormReluPool" : "batchNormReluMaxPool2d";
        if (x.rank() != 4) throw new IllegalArgumentException(op + ": input must be [N, C, H, W], not " + x.shape);
        int h = x.shape.dim(2), w = x.shape.dim(3);
        Pool2dKernels.Windows win = maxPool == null ? PoolOps.adaptiveWindows(op, h, w, 1, 1) : PoolOps.windows(op, h, w, maxPool);
        NormOps.Normalisation z = NormOps.normalisation(op, x, bn, planes);
        int count = z.n() * z.c();
        Tensor out = Tensor.emptyToOverwrite(Shape.of(z.n(), z.c(), win.oh(), win.ow()), x.dtype), xd = z.xd();
        boolean recorded = GradMode.isEnabled() && z.node().inputs().stream().anyMatch(Tensor::requiresGrad);
        int[] argmax = maxPool != null && recorded ? BufferPool.intsToOverwrite(out.numel()) : null;
        if (x.dtype == DType.F32) {
            float[] o = out.f();
            boolean halving = Pool2dKernels.halving(win);
            BatchNormKernels.PlanePool pool = maxPool != null ? (plane, t) -> Pool2dKernels.maxPlane(o, argmax, plane, 0, t, win, halving)
                    : (plane, t) -> Pool2dKernels.avgPlane(o, plane, 0, t, win);
            BatchNormKernels.affineReluPooled(pool, xd.f(), xd.offset, z.n(), z.c(), z.spatial(), z.mean(), z.scale(), z.shift());
        } else {
            double[] map = new double[count * z.spatial()];
            BatchNormKernels.affine(map, xd.d(), xd.offset, z.n(), z.c(), z.spatial(), z.mean(), z.scale(), z.shift(), true);
            if (maxPool != null) Pool2dKernels.maxForward(out.d(), argmax, map, 0, count, win);
            else Pool2dKernels.avgForward(out.d(), map, 0, count, win);
        }
        return Tensor.record(out, new Node.BatchNormReluPool(z.node(), z.relu(), win, argmax));
    }

    /** BN's backward with the pool's gradient spread plane by plane (float32), or through a full map (float64). */
    static Tensor[] backward(Node.BatchNormReluPool n, Tensor g) {
        return backward(n, g, null);
    }

    /** As above; with into (float32, g dense), x's gradient is left to into.dx (see NormOps.Deferral). */
    static Tensor[] backward(Node.BatchNormReluPool n, Tensor g, NormOps.Deferral into) {
        Tensor x = n.bn().x(), gd = g.dense();
        Pool2dKernels.Windows win = n.windows();
        int count = x.shape.dim(0) * x.shape.dim(1);
        Tensor[] grads;
        if (x.dtype == DType.F64) {
            Tensor map = Tensor.emptyToOverwrite(x.shape, x.dtype);
            if (n.argmax() != null) Pool2dKernels.maxBackward(map.d(), gd.d(), gd.offset, n.argmax(), count, win);
            else Pool2dKernels.avgBackward(map.d(), gd.d(), gd.offset, count, win);
            grads = NormOps.batchNormBackward(n.bn(), map, n.relu(), null, null);
            map.recycle();
        } else {
            float[] gf = gd.f();
            int at = gd.offset;
            int[] argmax = n.argmax();
            boolean tiles = Pool2dKernels.tiles(win);
            BatchNormKernels.PlaneSpread spread = argmax != null ? (plane, t) -> Pool2dKernels.maxBackwardPlane(plane, 0, gf, at, argmax, t, win)
                    : (plane, t) -> Pool2dKernels.avgBackwardPlane(plane, 0, gf, at, t, win, tiles);
            grads = NormOps.batchNormBackward(n.bn(), g, n.relu(), spread, into);
        }
        gd.recycleIfCopyOf(g);
        return grads;
    }
}
