package io.featurefuse.engine;

import io.featurefuse.engine.cpu.ResizeKernels;
import io.featurefuse.engine.cpu.ResizeKernels.Axis;

/** interpolate over [N, C, H, W]: nearest, bilinear (either corner rule) and area, forward and backward. */
final class ResizeOps {
    private ResizeOps() {}

    static Tensor interpolate(Tensor x, int outH, int outW, double scaleH, double scaleW, InterpolationMode mode, boolean alignCorners) {
        String op = "interpolate";
        if (x.rank() != 4) throw new IllegalArgumentException(op + ": input must be [N, C, H, W], not " + x.shape);
        if (x.numel() == 0) throw new IllegalArgumentException(op + ": input " + x.shape + " is empty");
        if (outH < 1 || outW < 1) throw new IllegalArgumentException(op + ": output size " + outH + "x" + outW + " must be at least 1x1");
        if (alignCorners && mode != InterpolationMode.BILINEAR)
            throw new IllegalArgumentException(op + ": alignCorners applies to bilinear only, not " + mode.name().toLowerCase());
        int h = x.shape.dim(2), w = x.shape.dim(3);
        if (mode == InterpolationMode.AREA) return x.adaptiveAvgPool2d(outH, outW);
        boolean f32 = x.dtype == DType.F32;
        Axis ay = mode == InterpolationMode.NEAREST ? ResizeKernels.nearest(h, outH, scaleH) : ResizeKernels.bilinear(h, outH, alignCorners, scaleH, f32);
        Axis ax = mode == InterpolationMode.NEAREST ? ResizeKernels.nearest(w, outW, scaleW) : ResizeKernels.bilinear(w, outW, alignCorners, scaleW, f32);
        Tensor xd = x.dense();
        int planes = x.shape.dim(0) * x.shape.dim(1);
        Tensor out = Tensor.emptyToOverwrite(Shape.of(x.shape.dim(0), x.shape.dim(1), outH, outW), x.dtype);
        if (f32) ResizeKernels.forward(out.f(), xd.f(), xd.offset, planes, ay, ax);
        else ResizeKernels.forward(out.d(), xd.d(), xd.offset, planes, ay, ax);
        return Tensor.record(out, new Node.Resize(x, ay, ax));
    }

    /** Output size for a scale factor: floor(in * scale), as PyTorch. */
    static int scaledSize(int in, double scale) {
        if (!(scale > 0) || Double.isInfinite(scale)) throw new IllegalArgumentException("interpolate: scale factor " + scale + " must be positive");
        return (int) Math.floor(in * scale);
    }

    static Tensor backward(Node.Resize n, Tensor g) {
        Tensor x = n.x();
        int c = x.shape.dim(1), ohw = g.shape.dim(2) * g.shape.dim(3);
        // A channel slice of a larger gradient (what concat's backward hands each input) has whole
        // planes one after another, only its image stride is the larger tensor's: it is read in
        // place, not first copied dense (9.6 MB a step in the reference model's fusion).
        Tensor gd = planesContiguous(g) ? g : g.dense();
        int imageStride = gd == g && g.shape.dim(0) > 1 ? g.strides[0] : c * ohw;
        int planes = x.shape.dim(0) * c;
        Tensor gx = Tensor.emptyToOverwrite(x.shape, x.dtype);
        if (x.dtype == DType.F32) ResizeKernels.backward(gx.f(), gd.f(), gd.offset, c, imageStride, planes, n.rows(), n.cols());
        else ResizeKernels.backward(gx.d(), gd.d(), gd.offset, c, imageStride, planes, n.rows(), n.cols());
        gd.recycleIfCopyOf(g);
        return gx;
    }

    /** True when each image's C planes of t ([N, C, H, W]) lie dense and in order; images may be any distance apart. */
    private static boolean planesContiguous(Tensor t) {
        int c = t.shape.dim(1), h = t.shape.dim(2), w = t.shape.dim(3);
        return (w == 1 || t.strides[3] == 1) && (h == 1 || t.strides[2] == w) && (c == 1 || t.strides[1] == h * w);
    }
}
