package io.featurefuse.engine;

import io.featurefuse.engine.cpu.Pool2dKernels;
import io.featurefuse.engine.cpu.Pool2dKernels.Windows;

/**
 * max_pool2d, avg_pool2d and the adaptive pools over [N, C, H, W], forward and backward side by
 * side. All of them are one window table (see {@link Pool2dKernels}) built here with PyTorch's
 * rules for padding, ceil_mode, count_include_pad and adaptive bin edges.
 */
final class PoolOps {
    private PoolOps() {}

    private static void checkInput(Tensor x, String op) {
        if (x.rank() != 4) throw new IllegalArgumentException(op + ": input must be [N, C, H, W], not " + x.shape);
        if (x.numel() == 0) throw new IllegalArgumentException(op + ": input " + x.shape + " is empty");
    }

    /** Windows of max/avg pooling: starts at o*stride - pad, clipped to the input; divisors as PyTorch's avg_pool2d. */
    static Windows windows(String op, int h, int w, PoolOptions p) {
        int oh = PoolOptions.outSize(h, p.kernelH(), p.strideH(), p.padH(), p.ceilMode());
        int ow = PoolOptions.outSize(w, p.kernelW(), p.strideW(), p.padW(), p.ceilMode());
        if (oh < 1 || ow < 1)
            throw new IllegalArgumentException(op + ": the " + p.kernelH() + "x" + p.kernelW() + " window does not fit the input "
                    + h + "x" + w + " with padding " + p.padH() + "x" + p.padW());
        int[] ys = new int[oh], ye = new int[oh], xs = new int[ow], xe = new int[ow];
        int[] rowSpan = new int[oh], colSpan = new int[ow];
        for (int i = 0; i < oh; i++) {
            int start = i * p.strideH() - p.padH(), end = Math.min(start + p.kernelH(), h + p.padH());
            rowSpan[i] = end - start;
            ys[i] = Math.max(start, 0);
            ye[i] = Math.min(end, h);
        }
        for (int j = 0; j < ow; j++) {
            int start = j * p.strideW() - p.padW(), end = Math.min(start + p.kernelW(), w + p.padW());
            colSpan[j] = end - start;
            xs[j] = Math.max(start, 0);
            xe[j] = Math.min(end, w);
        }
        double[] div = new double[oh * ow];
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                div[i * ow + j] = p.countIncludePad() ? (double) rowSpan[i] * colSpan[j] : (double) (ye[i] - ys[i]) * (xe[j] - xs[j]);
        return new Windows(h, w, ys, ye, xs, xe, div);
    }

    /** Adaptive bins: [floor(i in / out), ceil((i + 1) in / out)). */
    static Windows adaptiveWindows(String op, int h, int w, int oh, int ow) {
        if (oh < 1 || ow < 1) throw new IllegalArgumentException(op + ": output size " + oh + "x" + ow + " must be at least 1x1");
        int[] ys = new int[oh], ye = new int[oh], xs = new int[ow], xe = new int[ow];
        for (int i = 0; i < oh; i++) {
            ys[i] = (int) ((long) i * h / oh);
            ye[i] = (int) (((long) (i + 1) * h + oh - 1) / oh);
        }
        for (int j = 0; j < ow; j++) {
            xs[j] = (int) ((long) j * w / ow);
            xe[j] = (int) (((long) (j + 1) * w + ow - 1) / ow);
        }
        double[] div = new double[oh * ow];
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) div[i * ow + j] = (double) (ye[i] - ys[i]) * (xe[j] - xs[j]);
        return new Windows(h, w, ys, ye, xs, xe, div);
    }

    static Tensor maxPool(Tensor x, Windows g) {
        int planes = x.shape.dim(0) * x.shape.dim(1);
        Tensor xd = x.dense();
        Tensor out = Tensor.emptyToOverwrite(Shape.of(x.shape.dim(0), x.shape.dim(1), g.oh(), g.ow()), x.dtype);
        // the argmax is for backward only: without a graph to record (inference) the kernels skip it
        boolean recorded = GradMode.isEnabled() && x.requiresGrad();
        int[] argmax = recorded ? BufferPool.intsToOverwrite(out.numel()) : null;
        if (x.dtype == DType.F32) Pool2dKernels.maxForward(out.f(), argmax, xd.f(), xd.offset, planes, g);
        else Pool2dKernels.maxForward(out.d(), argmax, xd.d(), xd.offset, planes, g);
        return recorded ? Tensor.record(out, new Node.Pool2d(x, g, argmax)) : out;
    }

    static Tensor avgPool(Tensor x, Windows g) {
        int planes = x.shape.dim(0) * x.shape.dim(1);
        Tensor xd = x.dense();
        Tensor out = Tensor.emptyToOverwrite(Shape.of(x.shape.dim(0), x.shape.dim(1), g.oh(), g.ow()), x.dtype);
        if (x.dtype == DType.F32) Pool2dKernels.avgForward(out.f(), xd.f(), xd.offset, planes, g);
        else Pool2dKernels.avgForward(out.d(), xd.d(), xd.offset, planes, g);
        return Tensor.record(out, new Node.Pool2d(x, g, null));
    }

    static Tensor backward(Node.Pool2d n, Tensor g) {
        Tensor x = n.x(), gd = g.dense();
        int planes = x.shape.dim(0) * x.shape.dim(1);
        Tensor gx = Tensor.emptyToOverwrite(x.shape, x.dtype);
        if (n.argmax() != null) {
            if (x.dtype == DType.F32) Pool2dKernels.maxBackward(gx.f(), gd.f(), gd.offset, n.argmax(), planes, n.windows());
            else Pool2dKernels.maxBackward(gx.d(), gd.d(), gd.offset, n.argmax(), planes, n.windows());
        } else {
            if (x.dtype == DType.F32) Pool2dKernels.avgBackward(gx.f(), gd.f(), gd.offset, planes, n.windows());
            else Pool2dKernels.avgBackward(gx.d(), gd.d(), gd.offset, planes, n.windows());
        }
        gd.recycleIfCopyOf(g);
        return gx;
    }

    static Tensor maxPool2d(Tensor x, PoolOptions p) {
        checkInput(x, "maxPool2d");
        return maxPool(x, windows("maxPool2d", x.shape.dim(2), x.shape.dim(3), p));
    }

    static Tensor avgPool2d(Tensor x, PoolOptions p) {
        checkInput(x, "avgPool2d");
        return avgPool(x, windows("avgPool2d", x.shape.dim(2), x.shape.dim(3), p));
    }

    static Tensor adaptiveAvgPool2d(Tensor x, int oh, int ow) {
        checkInput(x, "adaptiveAvgPool2d");
        return avgPool(x, adaptiveWindows("adaptiveAvgPool2d", x.shape.dim(2), x.shape.dim(3), oh, ow));
    }

    static Tensor adaptiveMaxPool2d(Tensor x, int oh, int ow) {
        checkInput(x, "adaptiveMaxPool2d");
        return maxPool(x, adaptiveWindows("adaptiveMaxPool2d", x.shape.dim(2), x.shape.dim(3), oh, ow));
    }
}
