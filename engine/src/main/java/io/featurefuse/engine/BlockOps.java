package io.featurefuse.engine;

import io.featurefuse.engine.cpu.BatchNormKernels;
import io.featurefuse.engine.cpu.Conv2dKernels;
import io.featurefuse.engine.cpu.ConvGeom;

/**
 * A residual block's forward in one call (Fused.basicBlock): the ops it is made of, recorded as they are when called one
 * by one, with one change of order: where a conv after a norm and ReLU runs by chunks of images
 * (Conv2dKernels.forwardTakesChunks), the norm's output is written a chunk at a time, each chunk just before the conv
 * reads it, so that conv reads it from cache. That is the block's second conv, and its first where a stem (conv, norm
 * and ReLU) comes before the block.
 */
final class BlockOps {
    /** Norm-then-conv passes run by chunks so far (read by tests, which check the route they test was taken). */
    static final java.util.concurrent.atomic.AtomicLong CHUNKED = new java.util.concurrent.atomic.AtomicLong();

    private BlockOps() {}

    /**
     * relu(bn2(conv2(relu(bn1(conv1(in))))) + shortcut), shortcut in, or shortcutBn(shortcutConv(in)) where shortcutConv
     * is given; in is x, or relu(stemBn(stem(x))) where stem is given (a conv, its norm and ReLU before the block).
     */
    static Tensor basicBlock(Tensor x, ConvSpec stem, BatchNormSpec stemBn, ConvSpec conv1, BatchNormSpec bn1, ConvSpec conv2, BatchNormSpec bn2,
                             ConvSpec shortcutConv, BatchNormSpec shortcutBn) {
        if ((shortcutConv == null) != (shortcutBn == null))
            throw new IllegalArgumentException("basicBlock: give both the shortcut's conv and its batch norm, or neither");
        if ((stem == null) != (stemBn == null)) throw new IllegalArgumentException("basicBlock: give both the stem's conv and its batch norm, or neither");
        Tensor in = x;
        Gathered z1;
        if (stem == null) z1 = conv(x, conv1, bn1);
        else {
            Gathered z0 = conv(x, stem, stemBn);
            NormOps.PlaneStatistics s1 = ConvOps.statisticsRoom(z0.out().shape, z0.out().dtype, conv1.weight(), conv1.options(), bn1.training());
            Tensor[] yz = normReluConv(z0.out(), stemBn, z0.stats(), conv1, s1);
            in = yz[0];
            z1 = new Gathered(yz[1], s1);
        }
        NormOps.PlaneStatistics s2 = ConvOps.statisticsRoom(z1.out().shape, z1.out().dtype, conv2.weight(), conv2.options(), bn2.training());
        Tensor z2 = normReluConv(z1.out(), bn1, z1.stats(), conv2, s2)[1];
        if (shortcutConv == null) return ResidualOps.batchNormAddRelu(z2, bn2, s2, in, null, null);
        Gathered r = conv(in, shortcutConv, shortcutBn);
        return ResidualOps.batchNormAddRelu(z2, bn2, s2, r.out(), shortcutBn, r.stats());
    }

    /** A conv's output and the batch statistics of its planes gathered as it wrote them (null where bn gathers its own, see ConvOps.statisticsRoom). */
    private record Gathered(Tensor out, NormOps.PlaneStatistics stats) {}

    /** conv2d(x, conv), gathering the statistics of the norm bn after it. */
    private static Gathered conv(Tensor x, ConvSpec conv, BatchNormSpec bn) {
        NormOps.PlaneStatistics stats = ConvOps.statisticsRoom(x, conv.weight(), conv.options(), bn.training());
        return new Gathered(ConvOps.conv2dGathering(x, conv.weight(), conv.bias(), conv.options(), stats), stats);
    }

    /** {y, conv2d(y, conv)}, y = relu(batchNorm(z, bn)) (statistics from s1), conv's output statistics into s2: by chunks where it can. */
    private static Tensor[] normReluConv(Tensor z, BatchNormSpec bn, NormOps.PlaneStatistics s1, ConvSpec conv, NormOps.PlaneStatistics s2) {
        Tensor[] chunked = normReluConvOfChunks(z, bn, s1, conv, s2);
        if (chunked != null) return chunked;
        Tensor y = NormOps.batchNorm(z, bn.runningMean(), bn.runningVar(), bn.weight(), bn.bias(), bn.training(), bn.momentum(), bn.eps(), true, s1);
        return new Tensor[] {y, ConvOps.conv2dGathering(y, conv.weight(), conv.bias(), conv.options(), s2)};
    }

    /**
     * {y, conv2d(y, conv)}, y = relu(batchNorm(z, bn)), with conv's output statistics gathered into s2, y made chunk
     * by chunk of images just before the conv reads it; both recorded as the plain ops (batchNormRelu, conv2d). Null,
     * with nothing done, where the conv does not run by chunks (or is given shapes it would refuse: the plain ops then
     * say what is wrong).
     */
    private static Tensor[] normReluConvOfChunks(Tensor z, BatchNormSpec bn, NormOps.PlaneStatistics s1, ConvSpec conv, NormOps.PlaneStatistics s2) {
        Tensor weight = conv.weight(), bias = conv.bias();
        if (z.dtype != DType.F32 || weight.dtype != DType.F32 || bias != null && bias.dtype != DType.F32) return null;
        ConvGeom g;
        try {
            g = ConvOps.geometry(z.shape, weight.shape, conv.options());
            ConvOps.checkBias("conv2d", z, bias, g);
        } catch (IllegalArgumentException e) {
            return null;
        }
        if (!Conv2dKernels.forwardTakesChunks(g)) return null;
        NormOps.Normalisation n = NormOps.normalisation("batchNormRelu", z, bn, s1);
        Tensor zd = n.xd(), y = Tensor.emptyToOverwrite(z.shape, DType.F32), wd = weight.dense(), bd = bias == null ? null : bias.dense();
        Tensor out = Tensor.emptyToOverwrite(Shape.of(g.n(), g.k(), g.oh(), g.ow()), DType.F32);
        int c = n.c();
        CHUNKED.incrementAndGet();
        Conv2dKernels.forwardOfChunks(out.f(),
                (n0, n1) -> BatchNormKernels.affinePlanes(y.f(), zd.f(), zd.offset, n0 * c, n1 * c, c, n.spatial(), n.mean(), n.scale(), n.shift(), true),
                y.f(), 0, wd.f(), wd.offset, bd == null ? null : bd.f(), bd == null ? 0 : bd.offset, g, ConvOps.gathering(out, g, s2));
        Tensor recorded = Tensor.record(y, new Node.BatchNormRelu(n.node(), n.relu()));
        return new Tensor[] {recorded, Tensor.record(out, new Node.Conv2d(recorded, weight, bias, g))};
    }
}
