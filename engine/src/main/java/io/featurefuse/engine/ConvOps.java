package io.featurefuse.engine;

import io.featurefuse.engine.cpu.BatchNormKernels;
import io.featurefuse.engine.cpu.Conv2dKernels;
import io.featurefuse.engine.cpu.Conv2dReference;
import io.featurefuse.engine.cpu.ConvGeom;

/**
 * conv2d forward and its backward rules (input, weight, bias) side by side. float32 runs
 * {@link Conv2dKernels} (im2col + packed GEMM), float64 the direct-loop {@link Conv2dReference}.
 */
final class ConvOps {
    private ConvOps() {}

    static ConvGeom geometry(Shape x, Shape weight, ConvOptions o) {
        if (x.rank() != 4) throw new IllegalArgumentException("conv2d: input must be [N, C, H, W], not " + x);
        if (weight.rank() != 4)
            throw new IllegalArgumentException("conv2d: weight must be [out, in / groups, kH, kW], not " + weight);
        int n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
        int k = weight.dim(0), cg = weight.dim(1), r = weight.dim(2), s = weight.dim(3);
        if (n == 0) throw new IllegalArgumentException("conv2d: input " + x + " is an empty batch");
        if (c == 0 || h == 0 || w == 0) throw new IllegalArgumentException("conv2d: input " + x + " is empty");
        if (k == 0 || r == 0 || s == 0) throw new IllegalArgumentException("conv2d: weight " + weight + " is empty");
        if (c % o.groups() != 0 || k % o.groups() != 0)
            throw new IllegalArgumentException("conv2d: " + c + " input and " + k + " output channels must both divide into "
                    + o.groups() + " groups");
        if (cg * o.groups() != c)
            throw new IllegalArgumentException("conv2d: input " + x + " has " + c + " channels but weight " + weight + " expects "
                    + cg * o.groups() + " (groups " + o.groups() + ")");
        long oh = ConvGeom.outSize(h, r, o.strideH(), o.padH(), o.dilationH());
        long ow = ConvGeom.outSize(w, s, o.strideW(), o.padW(), o.dilationW());
        if (oh < 1 || ow < 1)
            throw new IllegalArgumentException("conv2d: the " + r + "x" + s + " kernel with dilation " + o.dilationH() + "x"
                    + o.dilationW() + " does not fit the padded input " + (h + 2L * o.padH()) + "x" + (w + 2L * o.padW())
                    + " of " + x);
        Shape.of(n, k, (int) oh, (int) ow); // the output must fit an array
        return new ConvGeom(n, c, h, w, k, r, s, (int) oh, (int) ow, o.strideH(), o.strideW(), o.padH(), o.padW(),
                o.dilationH(), o.dilationW(), o.groups());
    }

    static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, ConvOptions o) {
        return conv2d(x, weight, bias, o, false);
    }

    /**
     * relu(conv2d(x)) in one pass over the output: the clamp runs in the convolution's epilogue
     * (with BN folded into weight and bias, this is conv + BN + ReLU for inference). Saves the
     * output, whose sign is the ReLU's mask in backward.
     */
    static Tensor conv2dRelu(Tensor x, Tensor weight, Tensor bias, ConvOptions o) {
        return conv2d(x, weight, bias, o, true);
    }

    /**
     * relu(conv2d(x) + residual), residual of the output's shape: a residual block's last conv (BN folded
     * into it for inference) with its shortcut and ReLU, in the convolution's output pass where the route
     * allows (see Conv2dKernels.forwardAddRelu). The same values as conv2d then addRelu, to the bit.
     */
    static Tensor conv2dAddRelu(Tensor x, Tensor weight, Tensor bias, Tensor residual, ConvOptions o) {
        return conv2d(x, weight, bias, o, true, residual);
    }

    private static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, ConvOptions o, boolean relu) {
        return conv2d(x, weight, bias, o, relu, null, null);
    }

    private static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, ConvOptions o, boolean relu, Tensor residual) {
        return conv2d(x, weight, bias, o, relu, residual, null);
    }

    /**
     * relu?(batchNorm(conv2d(x))), the usual conv, BN (, ReLU) of a CNN block, as two recorded ops (the
     * convolution's output is BN's input, as when called one by one). In training, BN's statistics are
     * gathered plane by plane in the convolution's tasks, each image's output planes summed while they are
     * still in cache (Conv2dKernels.Written), instead of in a pass of their own over the whole output: the
     * same values to the bit, one read of the output from memory fewer.
     */
    static Tensor conv2dBatchNorm(Tensor x, Tensor weight, Tensor bias, ConvOptions o, Tensor runningMean, Tensor runningVar,
                                  Tensor bnWeight, Tensor bnBias, boolean training, double momentum, double eps, boolean relu) {
        NormOps.PlaneStatistics stats = statisticsRoom(x, weight, o, training);
        Tensor y = conv2dGathering(x, weight, bias, o, stats);
        return NormOps.batchNorm(y, runningMean, runningVar, bnWeight, bnBias, training, momentum, eps, relu, stats);
    }

    /**
     * Room for the batch statistics of conv2d(x, weight)'s output planes, which its kernels gather as
     * they write them: in training with float32 (else null, and the norm takes its own pass).
     */
    static NormOps.PlaneStatistics statisticsRoom(Tensor x, Tensor weight, ConvOptions o, boolean training) {
        return statisticsRoom(x.shape, x.dtype, weight, o, training);
    }

    /** statisticsRoom for an input of this shape and dtype. */
    static NormOps.PlaneStatistics statisticsRoom(Shape x, DType dtype, Tensor weight, ConvOptions o, boolean training) {
        if (!training || dtype != DType.F32) return null;
        ConvGeom g = geometry(x, weight.shape, o);
        return new NormOps.PlaneStatistics(new double[g.n() * g.k()], new double[g.n() * g.k()]);
    }

    /** What the kernels tell as output planes are written: their statistics summed into stats (null: nothing). */
    static Conv2dKernels.Written gathering(Tensor out, ConvGeom g, NormOps.PlaneStatistics stats) {
        if (stats == null) return null;
        return (n0, n1, k0, k1) -> {
            for (int i = n0; i < n1; i++)
                BatchNormKernels.planeStatistics(out.f(), 0, i * g.k() + k0, i * g.k() + k1, g.ohw(), stats.sums(), stats.deviations());
        };
    }

    /** The bias, if any, must have x's dtype and one value per output channel. */
    static void checkBias(String op, Tensor x, Tensor bias, ConvGeom g) {
        if (bias == null) return;
        Elementwise.checkSameDtype(op, x, bias);
        if (bias.rank() != 1 || bias.shape.dim(0) != g.k())
            throw new IllegalArgumentException(op + ": bias " + bias.shape + " does not match " + g.k() + " output channels");
    }

    /** conv2dBatchNorm with relu, then a global average pool (maxPool null) or that max pool, fused into BN's pass (PooledNormOps). */
    static Tensor conv2dBatchNormReluPool(Tensor x, Tensor weight, Tensor bias, ConvOptions o, BatchNormSpec bn, PoolOptions maxPool) {
        NormOps.PlaneStatistics stats = statisticsRoom(x, weight, o, bn.training());
        Tensor y = conv2dGathering(x, weight, bias, o, stats);
        return PooledNormOps.batchNormReluPool(y, bn, stats, maxPool);
    }

    /** conv2d(x, weight, bias, o), with its output planes' batch statistics gathered into stats as they are written when stats is given (see statisticsRoom). */
    static Tensor conv2dGathering(Tensor x, Tensor weight, Tensor bias, ConvOptions o, NormOps.PlaneStatistics stats) {
        return conv2d(x, weight, bias, o, false, null, stats);
    }

    /** stats: null, or filled with the batch-norm statistics of the output's planes as they are written (float32 only). */
    private static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, ConvOptions o, boolean relu, Tensor residual,
                                 NormOps.PlaneStatistics stats) {
        String op = residual == null ? "conv2d" : "conv2dAddRelu";
        Elementwise.checkSameDtype(op, x, weight);
        ConvGeom g = geometry(x.shape, weight.shape, o);
        checkBias(op, x, bias, g);
        Shape outShape = Shape.of(g.n(), g.k(), g.oh(), g.ow());
        if (residual != null) {
            Elementwise.checkSameDtype(op, x, residual);
            if (!residual.shape.equals(outShape))
                throw new IllegalArgumentException(op + ": residual " + residual.shape + " does not match the output " + outShape);
        }
        Tensor xd = x.dense(), wd = weight.dense(), bd = bias == null ? null : bias.dense(), rd = residual == null ? null : residual.dense();
        Tensor out = Tensor.emptyToOverwrite(outShape, x.dtype);
        if (x.dtype == DType.F32) {
            float[] b = bd == null ? null : bd.f();
            int bo = bd == null ? 0 : bd.offset;
            if (rd != null) Conv2dKernels.forwardAddRelu(out.f(), xd.f(), xd.offset, wd.f(), wd.offset, b, bo, rd.f(), rd.offset, g);
            else Conv2dKernels.forward(out.f(), xd.f(), xd.offset, wd.f(), wd.offset, b, bo, g, relu, gathering(out, g, stats));
        } else {
            double[] y = out.d();
            Conv2dReference.forward(y, xd.d(), xd.offset, wd.d(), wd.offset, bd == null ? null : bd.d(), bd == null ? 0 : bd.offset, g);
            if (rd != null) for (int i = 0; i < y.length; i++) y[i] += rd.d()[rd.offset + i];
            if (relu) for (int i = 0; i < y.length; i++) y[i] = Math.max(y[i], 0.0);
        }
        if (rd != null) rd.recycleIfCopyOf(residual);
        Node.Conv2d conv = new Node.Conv2d(x, weight, bias, g);
        return Tensor.record(out, relu ? new Node.Conv2dRelu(conv, residual, out) : conv);
    }

    /** The ReLU's mask from the saved output (out > 0 exactly where the sum was), then conv2d's rules; the residual gets the masked gradient as it is. */
    static Tensor[] reluBackward(Node.Conv2dRelu n, Tensor g) {
        Tensor masked = Elementwise.binary(io.featurefuse.engine.cpu.BinaryOp.RELU_GRAD, g, n.out());
        Tensor[] conv = backward(n.conv(), masked);
        if (n.residual() == null) return conv;
        Tensor[] all = java.util.Arrays.copyOf(conv, conv.length + 1);
        all[conv.length] = n.residual().requiresGrad() ? masked : null;
        return all;
    }

    static Tensor[] backward(Node.Conv2d n, Tensor g) {
        return backward(n, g, null);
    }

    /**
     * True when {@link #backward(Node.Conv2d, Tensor, Tensor)} adds x's gradient into a waiting one: float32, and a
     * route that adds in its own output pass (Conv2dKernels.addsInputGradient).
     */
    static boolean addsInputGradient(Node.Conv2d n) {
        return n.x().dtype == DType.F32 && n.x().requiresGrad() && Conv2dKernels.addsInputGradient(n.geom());
    }

    /**
     * conv2d's rules; with sum (where addsInputGradient(n); a dense buffer of x's shape from offset 0 that nobody else reads),
     * x's gradient is added into sum's buffer, and sum itself is returned as it.
     */
    static Tensor[] backward(Node.Conv2d n, Tensor g, Tensor sum) {
        ConvGeom geom = n.geom();
        Tensor x = n.x(), w = n.weight(), b = n.bias();
        Tensor gd = g.dense();
        Tensor gx = null, gw = null, gb = null;
        if (sum != null) {
            if (!addsInputGradient(n) || !sum.shape.equals(x.shape) || !sum.isContiguous() || sum.offset != 0 || sum.dtype != DType.F32)
                throw new IllegalArgumentException("conv2d backward: cannot add the input gradient into a tensor of shape " + sum.shape);
            Tensor wd = w.dense();
            Conv2dKernels.backwardData(sum.f(), gd.f(), gd.offset, wd.f(), wd.offset, geom, true);
            gx = sum;
        } else if (x.requiresGrad()) {
            Tensor wd = w.dense();
            gx = Tensor.emptyToOverwrite(x.shape, x.dtype);
            if (x.dtype == DType.F32) Conv2dKernels.backwardData(gx.f(), gd.f(), gd.offset, wd.f(), wd.offset, geom);
            else Conv2dReference.backwardData(gx.d(), gd.d(), gd.offset, wd.d(), wd.offset, geom);
        }
        if (w.requiresGrad()) {
            Tensor xd = x.dense();
            gw = Tensor.emptyToOverwrite(w.shape, w.dtype);
            if (x.dtype == DType.F32) Conv2dKernels.backwardWeight(gw.f(), gd.f(), gd.offset, xd.f(), xd.offset, geom);
            else Conv2dReference.backwardWeight(gw.d(), gd.d(), gd.offset, xd.d(), xd.offset, geom);
        }
        gd.recycleIfCopyOf(g);
        if (b != null && b.requiresGrad()) gb = g.sum(false, 0, 2, 3);
        return b == null ? new Tensor[] {gx, gw} : new Tensor[] {gx, gw, gb};
    }

    /** True when {@link #backwardOfChunks} takes n: float32, no bias, a layer whose backward runs chunk by chunk (Conv2dKernels.takesChunks). */
    static boolean takesChunks(Node.Conv2d n) {
        return n.x().dtype == DType.F32 && n.bias() == null && Conv2dKernels.takesChunks(n.geom());
    }

    /**
     * conv2d's rules (where takesChunks(n)) with the output gradient made chunk by chunk by dOut, as the input and weight
     * gradients read it (Conv2dKernels.backwardOfChunks); with sum, as backward(n, g, sum). With sumsFor (or null: a norm
     * node whose output is n's input; no sum), that norm's gradient sums' terms are made into presums as x's gradient is
     * (NormOps.gradientSums).
     */
    static Tensor[] backwardOfChunks(Node.Conv2d n, Conv2dKernels.OutputGradient dOut, Tensor sum, Node sumsFor, NormOps.PlaneGradientSums presums) {
        Tensor x = n.x(), w = n.weight();
        if (!takesChunks(n) || sum != null && (!addsInputGradient(n) || !sum.shape.equals(x.shape) || !sum.isContiguous() || sum.offset != 0
                || sum.dtype != DType.F32))
            throw new IllegalArgumentException("conv2d backward: this layer's gradients do not run chunk by chunk into " + (sum == null ? "new tensors" : sum.shape));
        Tensor gx = sum != null ? sum : x.requiresGrad() ? Tensor.emptyToOverwrite(x.shape, x.dtype) : null;
        Tensor gw = w.requiresGrad() ? Tensor.emptyToOverwrite(w.shape, w.dtype) : null;
        Tensor wd = w.dense(), xd = x.dense();
        if (gx != null || gw != null)
            Conv2dKernels.backwardOfChunks(gx == null ? null : gx.f(), sum != null, gw == null ? null : gw.f(), dOut, wd.f(), wd.offset, xd.f(), xd.offset,
                    n.geom(), sumsFor == null || gx == null ? null : NormOps.gradientSums(sumsFor, gx, presums));
        return new Tensor[] {gx, gw};
    }

    /**
     * conv_transpose2d: the adjoint of conv2d with respect to its input, so it runs conv2d's
     * backward-data kernel forward, and conv2d's forward and weight kernels backward. weight is
     * [in, out / groups, kH, kW] as PyTorch's; output size (H - 1) stride - 2 pad + dilation
     * (k - 1) + outputPadding + 1.
     */
    static Tensor convTranspose2d(Tensor x, Tensor weight, Tensor bias, ConvOptions o, int outPadH, int outPadW) {
        String op = "convTranspose2d";
        Elementwise.checkSameDtype(op, x, weight);
        if (x.rank() != 4) throw new IllegalArgumentException(op + ": input must be [N, C, H, W], not " + x.shape);
        if (weight.rank() != 4) throw new IllegalArgumentException(op + ": weight must be [in, out / groups, kH, kW], not " + weight.shape);
        int n = x.shape.dim(0), cin = x.shape.dim(1), h = x.shape.dim(2), w = x.shape.dim(3);
        int r = weight.shape.dim(2), s = weight.shape.dim(3), cout = weight.shape.dim(1) * o.groups();
        if (n == 0) throw new IllegalArgumentException(op + ": input " + x.shape + " is an empty batch");
        if (x.numel() == 0 || weight.numel() == 0) throw new IllegalArgumentException(op + ": input " + x.shape + " or weight " + weight.shape + " is empty");
        if (weight.shape.dim(0) != cin || cin % o.groups() != 0)
            throw new IllegalArgumentException(op + ": input " + x.shape + " has " + cin + " channels but weight " + weight.shape
                    + " expects " + weight.shape.dim(0) + " (groups " + o.groups() + ")");
        if (outPadH < 0 || outPadW < 0 || outPadH >= Math.max(o.strideH(), o.dilationH()) || outPadW >= Math.max(o.strideW(), o.dilationW()))
            throw new IllegalArgumentException(op + ": output padding " + outPadH + "x" + outPadW
                    + " must be below the stride or the dilation");
        long oh = (long) (h - 1) * o.strideH() - 2L * o.padH() + (long) o.dilationH() * (r - 1) + outPadH + 1;
        long ow = (long) (w - 1) * o.strideW() - 2L * o.padW() + (long) o.dilationW() * (s - 1) + outPadW + 1;
        if (oh < 1 || ow < 1) throw new IllegalArgumentException(op + ": output size " + oh + "x" + ow + " of input " + x.shape + " is empty");
        Shape outShape = Shape.of(n, cout, (int) oh, (int) ow);
        if (bias != null && (bias.rank() != 1 || bias.shape.dim(0) != cout))
            throw new IllegalArgumentException(op + ": bias " + bias.shape + " does not match " + cout + " output channels");
        // The conv2d whose input is our output and whose output is our input.
        ConvGeom g = new ConvGeom(n, cout, (int) oh, (int) ow, cin, r, s, h, w, o.strideH(), o.strideW(), o.padH(), o.padW(),
                o.dilationH(), o.dilationW(), o.groups());
        Tensor xd = x.dense(), wd = weight.dense();
        Tensor out = Tensor.empty(outShape, x.dtype);
        if (x.dtype == DType.F32) Conv2dKernels.backwardData(out.f(), xd.f(), xd.offset, wd.f(), wd.offset, g);
        else Conv2dReference.backwardData(out.d(), xd.d(), xd.offset, wd.d(), wd.offset, g);
        Tensor y = Tensor.record(out, new Node.ConvTranspose2d(x, weight, g));
        if (bias == null) return y;
        Elementwise.checkSameDtype(op, x, bias);
        return y.add(bias.reshape(cout, 1, 1));
    }

    static Tensor[] transposeBackward(Node.ConvTranspose2d n, Tensor g) {
        ConvGeom geom = n.geom();
        Tensor x = n.x(), w = n.weight(), gd = g.dense();
        Tensor gx = null, gw = null;
        if (x.requiresGrad()) {
            Tensor wd = w.dense();
            gx = Tensor.empty(x.shape, x.dtype);
            if (x.dtype == DType.F32) Conv2dKernels.forward(gx.f(), gd.f(), gd.offset, wd.f(), wd.offset, null, 0, geom);
            else Conv2dReference.forward(gx.d(), gd.d(), gd.offset, wd.d(), wd.offset, null, 0, geom);
        }
        if (w.requiresGrad()) {
            Tensor xd = x.dense();
            gw = Tensor.empty(w.shape, w.dtype);
            if (x.dtype == DType.F32) Conv2dKernels.backwardWeight(gw.f(), xd.f(), xd.offset, gd.f(), gd.offset, geom);
            else Conv2dReference.backwardWeight(gw.d(), xd.d(), xd.offset, gd.d(), gd.offset, geom);
        }
        gd.recycleIfCopyOf(g);
        return new Tensor[] {gx, gw};
    }
}
