package io.featurefuse.engine;

import io.featurefuse.engine.cpu.BatchNormKernels;
import io.featurefuse.engine.cpu.BinaryOp;
import io.featurefuse.engine.cpu.Conv2dKernels;
import io.featurefuse.engine.cpu.ResidualKernels;

/**
 * The end of a residual block as one op: relu(batchNorm(x) + shortcut), the shortcut as it is
 * (identity) or through a batch norm of its own (projection), and the same with the convolutions
 * before the norms, whose outputs' statistics are then gathered as they are written. The values,
 * running statistics and gradients are those of batchNorm, batchNorm and addRelu called one by
 * one, to the bit; the normalised maps are never written (see ResidualKernels).
 */
final class ResidualOps {
    private ResidualOps() {}

    /**
     * relu(batchNorm(conv2d(x), bn) + shortcut), or + batchNorm(conv2d(shortcut, shortcutWeight), shortcutBn) when
     * shortcutWeight is given; each convolution is recorded as conv2d is.
     */
    static Tensor conv2dBatchNormAddRelu(Tensor x, Tensor weight, Tensor bias, ConvOptions o, BatchNormSpec bn, Tensor shortcut,
                                         Tensor shortcutWeight, Tensor shortcutBias, ConvOptions so, BatchNormSpec shortcutBn) {
        NormOps.PlaneStatistics xs = ConvOps.statisticsRoom(x, weight, o, bn.training());
        NormOps.PlaneStatistics ss = shortcutWeight == null ? null : ConvOps.statisticsRoom(shortcut, shortcutWeight, so, shortcutBn.training());
        Tensor y = ConvOps.conv2dGathering(x, weight, bias, o, xs);
        Tensor r = shortcutWeight == null ? shortcut : ConvOps.conv2dGathering(shortcut, shortcutWeight, shortcutBias, so, ss);
        return batchNormAddRelu(y, bn, xs, r, shortcutWeight == null ? null : shortcutBn, ss);
    }

    /**
     * relu(batchNorm(x, bn) + shortcut), or + batchNorm(shortcut, shortcutBn) when shortcutBn is given;
     * statistics from xs and ss where the inputs' producers gathered them (may be null).
     */
    static Tensor batchNormAddRelu(Tensor x, BatchNormSpec bn, NormOps.PlaneStatistics xs, Tensor shortcut, BatchNormSpec shortcutBn,
                                   NormOps.PlaneStatistics ss) {
        String op = "batchNormAddRelu";
        Elementwise.checkSameDtype(op, x, shortcut);
        if (!shortcut.shape.equals(x.shape))
            throw new IllegalArgumentException(op + ": shortcut " + shortcut.shape + " does not match the input " + x.shape);
        NormOps.Normalisation z = NormOps.normalisation(op, x, bn, xs);
        NormOps.Normalisation zs = shortcutBn == null ? null : NormOps.normalisation(op + " (shortcut)", shortcut, shortcutBn, ss);
        Tensor sd = zs == null ? shortcut.dense() : zs.xd();
        double[] sm = zs == null ? null : zs.mean(), sa = zs == null ? null : zs.scale(), sb = zs == null ? null : zs.shift();
        Tensor out = Tensor.emptyToOverwrite(x.shape, x.dtype);
        if (x.dtype == DType.F32)
            ResidualKernels.affineAddRelu(out.f(), z.xd().f(), z.xd().offset, z.n(), z.c(), z.spatial(), z.mean(), z.scale(), z.shift(), sd.f(),
                    sd.offset, sm, sa, sb);
        else ResidualKernels.affineAddRelu(out.d(), z.xd().d(), z.xd().offset, z.n(), z.c(), z.spatial(), z.mean(), z.scale(), z.shift(), sd.d(),
                    sd.offset, sm, sa, sb);
        return Tensor.record(out, new Node.BatchNormAddRelu(z.node(), shortcut, zs == null ? null : zs.node(), out));
    }

    /**
     * The ReLU's gradient (where the output is above 0), then each batch norm's backward on it, as
     * addRelu's and batchNorm's backward rules compute them; an identity shortcut gets the masked
     * gradient itself. float32 in two passes that mask on the fly (ResidualKernels.gatedSums and
     * gatedInputGradients): an identity end reads g, the output and x, writing the masked gradient
     * once, then that and x; a projection end reads g, the output and both inputs twice and writes
     * only the two input gradients. float64, the reference, composes the rules.
     */
    static Tensor[] backward(Node.BatchNormAddRelu n, Tensor g) {
        return backward(n, g, null, false, false);
    }

    /**
     * As above; with into (float32, g dense), the gradient of the norm's input (deferMain) and of the shortcut norm's
     * (deferShortcut) are left null and made image by image by into's dx and shortcutDx (see NormOps.Deferral); an
     * identity shortcut's gated gradient, which the first reads, is into's held.
     */
    static Tensor[] backward(Node.BatchNormAddRelu n, Tensor g, NormOps.Deferral into, boolean deferMain, boolean deferShortcut) {
        if (g.dtype == DType.F64) return composed(n, g);
        if (into != null && (!g.isContiguous() || deferShortcut && n.shortcutBn() == null))
            throw new IllegalArgumentException("batch norm add relu backward: only a dense gradient and a normalised shortcut defer");
        Node.BatchNorm a = n.bn(), b = n.shortcutBn();
        Tensor gd = g.dense(), out = n.out(), x = a.x().dense(), s = b == null ? null : b.x().dense();
        int images = x.shape.dim(0), c = x.shape.dim(1), spatial = x.numel() / (images * c);
        double[] sums = new double[c], dots = new double[c], otherDots = b == null ? null : new double[c];
        Tensor gated = b == null ? Tensor.emptyToOverwrite(x.shape, x.dtype) : null;
        ResidualKernels.gatedSums(gd.f(), gd.offset, out.f(), out.offset, x.f(), x.offset, a.mean(), s == null ? null : s.f(), s == null ? 0 : s.offset,
                b == null ? null : b.mean(), images, c, spatial, sums, dots, otherDots, gated == null ? null : gated.f());
        NormOps.Backward ka = NormOps.backward(a, sums, dots), kb = b == null ? null : NormOps.backward(b, sums, otherDots);
        Tensor gx = a.x().requiresGrad() && !deferMain ? Tensor.emptyToOverwrite(x.shape, x.dtype) : null;
        Tensor[] rest;
        if (b == null) {
            if (gx != null)
                BatchNormKernels.inputGradient(gx.f(), gated.f(), 0, null, x.f(), x.offset, images, c, spatial, a.mean(), ka.p(), ka.q(), ka.r());
            if (deferMain) {
                float[] gf = gated.f();
                into.dx = (n0, n1, dst) -> BatchNormKernels.inputGradientOfImages(dst, gf, 0, null, null, x.f(), x.offset, n0, n1, c, spatial, a.mean(),
                        ka.p(), ka.q(), ka.r());
                into.held = gated;
            }
            rest = new Tensor[] {n.shortcut().requiresGrad() ? gated : null};
            if (rest[0] == null && !deferMain) gated.recycle();
        } else {
            Tensor gs = b.x().requiresGrad() && !deferShortcut ? Tensor.emptyToOverwrite(s.shape, s.dtype) : null;
            if (gx != null || gs != null)
                ResidualKernels.gatedInputGradients(gd.f(), gd.offset, out.f(), out.offset, images, c, spatial, gx == null ? null : gx.f(), x.f(), x.offset,
                        ka.p(), ka.q(), ka.r(), gs == null ? null : gs.f(), s.f(), s.offset, kb.p(), kb.q(), kb.r());
            if (deferMain) into.dx = gatedOfImages(gd, out, x, ka);
            if (deferShortcut) into.shortcutDx = gatedOfImages(gd, out, s, kb);
            rest = kb.grads(b, gs);
        }
        gd.recycleIfCopyOf(g);
        return concat(ka.grads(a, gx), rest);
    }

    /** The gradient of norm input x (coefficients k) through the gated g, made image by image (ResidualKernels.gatedInputGradientOfImages). */
    private static Conv2dKernels.OutputGradient gatedOfImages(Tensor g, Tensor out, Tensor x, NormOps.Backward k) {
        int c = x.shape.dim(1), spatial = x.numel() / (x.shape.dim(0) * c);
        return (n0, n1, dst) -> ResidualKernels.gatedInputGradientOfImages(dst, g.f(), g.offset, out.f(), out.offset, n0, n1, c, spatial, x.f(), x.offset,
                k.p(), k.q(), k.r());
    }

    /** The rules one by one: the masked gradient, then each norm's backward on it. */
    private static Tensor[] composed(Node.BatchNormAddRelu n, Tensor g) {
        Tensor masked = Elementwise.binary(BinaryOp.RELU_GRAD, g, n.out());
        Tensor[] main = NormOps.batchNormBackward(n.bn(), masked);
        Tensor[] rest;
        if (n.shortcutBn() == null) {
            rest = new Tensor[] {n.shortcut().requiresGrad() ? masked : null};
            if (rest[0] == null) masked.recycle();
        } else {
            rest = NormOps.batchNormBackward(n.shortcutBn(), masked);
            masked.recycle(); // read by both norms' backward, handed to neither input
        }
        return concat(main, rest);
    }

    private static Tensor[] concat(Tensor[] a, Tensor[] b) {
        Tensor[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
