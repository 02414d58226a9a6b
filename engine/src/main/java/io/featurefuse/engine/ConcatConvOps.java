package io.featurefuse.engine;

import io.featurefuse.engine.cpu.Conv2dKernels;
import io.featurefuse.engine.cpu.ConvGeom;
import io.featurefuse.engine.cpu.PointwiseParts;
import io.featurefuse.engine.cpu.ResizeKernels;
import java.util.ArrayList;
import java.util.List;

/**
 * conv2d over maps joined along channels, conv2d(concat(maps, 1), weight, bias), and its backward rules. A
 * pointwise float32 layer reads the maps where they lie ({@link PointwiseParts}) and hands each map its own
 * gradient, so the joined map and its gradient are never made; any other layer, and float64 (the reference), is
 * that composition itself. The same values to the bit either way.
 *
 * <p>conv2d(concat(each map resized to one size), weight, bias) takes a smaller map into that pointwise layer as it
 * lies, the layer running at the map's size and its output resized (PointwiseParts); the last bits then differ from
 * the composition's. Maps larger than the size (so that the layer would run at the larger size), area resizing, and
 * the other layers and float64 resize first (Tensor.interpolate) and go on as above.
 */
final class ConcatConvOps {
    private static final String OP = "conv2dOfConcat";

    private ConcatConvOps() {}

    /** stats: null, or filled with the output planes' batch-norm statistics as they are written (see ConvOps.statisticsRoom). */
    static Tensor conv2d(List<Tensor> maps, Tensor weight, Tensor bias, ConvOptions o, NormOps.PlaneStatistics stats) {
        Shape joined = joinedShape(maps);
        Tensor first = maps.get(0);
        Elementwise.checkSameDtype(OP, first, weight);
        ConvGeom g = ConvOps.geometry(joined, weight.shape, o);
        ConvOps.checkBias(OP, first, bias, g);
        if (first.dtype != DType.F32 || maps.size() < 2 || !PointwiseParts.applies(g))
            return ConvOps.conv2dGathering(Tensor.concat(maps, 1), weight, bias, o, stats);
        return pointwise(maps, null, weight, bias, g, stats, false);
    }

    /** The pointwise route's output (map i resized by resized[i]; the array may be null), recorded unless relu (which only conv2dRelu asks for, not recording). */
    private static Tensor pointwise(List<Tensor> maps, ResizeKernels.Prepared[] resized, Tensor weight, Tensor bias, ConvGeom g,
                                    NormOps.PlaneStatistics stats, boolean relu) {
        Tensor wd = weight.dense(), bd = bias == null ? null : bias.dense();
        Tensor out = Tensor.emptyToOverwrite(Shape.of(g.n(), g.k(), g.oh(), g.ow()), DType.F32);
        PointwiseParts.forward(out.f(), parts(maps, resized), wd.f(), wd.offset, bd == null ? null : bd.f(), bd == null ? 0 : bd.offset, g, relu,
                ConvOps.gathering(out, g, stats));
        return relu ? out : Tensor.record(out, new Node.Conv2dOfConcat(List.copyOf(maps), weight, bias, g, resized));
    }

    /** conv2d(concat(maps, each resized to to's size where it is not that size), weight, bias); stats as in conv2d. */
    static Tensor conv2d(List<Tensor> maps, ResizeSpec to, Tensor weight, Tensor bias, ConvOptions o, NormOps.PlaneStatistics stats) {
        return conv2d(maps, to, weight, bias, o, stats, false);
    }

    /**
     * As above, then relu: in the conv's output pass where a smaller map is read as it lies and nothing is recorded, else
     * the op relu after it (stats, if any, are then the conv's output's).
     */
    static Tensor conv2dRelu(List<Tensor> maps, ResizeSpec to, Tensor weight, Tensor bias, ConvOptions o) {
        boolean recording = GradMode.isEnabled() && (weight.requiresGrad() || bias != null && bias.requiresGrad() || maps.stream().anyMatch(Tensor::requiresGrad));
        return recording ? conv2d(maps, to, weight, bias, o, null, false).relu() : conv2d(maps, to, weight, bias, o, null, true);
    }

    private static Tensor conv2d(List<Tensor> maps, ResizeSpec to, Tensor weight, Tensor bias, ConvOptions o, NormOps.PlaneStatistics stats, boolean relu) {
        Shape joined = joinedShape(maps, to);
        Tensor first = maps.get(0);
        Elementwise.checkSameDtype(OP, first, weight);
        ConvGeom g = ConvOps.geometry(joined, weight.shape, o);
        boolean folds = first.dtype == DType.F32 && maps.size() >= 2 && PointwiseParts.applies(g) && to.mode() != InterpolationMode.AREA;
        List<Tensor> sized = new ArrayList<>();
        ResizeKernels.Prepared[] resized = new ResizeKernels.Prepared[maps.size()];
        boolean any = false;
        for (int i = 0; i < maps.size(); i++) {
            Tensor m = maps.get(i);
            int h = m.shape.dim(2), w = m.shape.dim(3);
            if (!to.fits(m) && folds && (long) h * w < (long) to.h() * to.w()) {
                resized[i] = ResizeKernels.prepare(axis(h, to.h(), to), axis(w, to.w(), to));
                any = true;
            }
            sized.add(to.fits(m) || resized[i] != null ? m : m.interpolate(to.h(), to.w(), to.mode(), to.alignCorners()));
        }
        if (!any) {
            Tensor y = conv2d(sized, weight, bias, o, stats);
            return relu ? y.relu() : y;
        }
        ConvOps.checkBias(OP, first, bias, g);
        return pointwise(sized, resized, weight, bias, g, stats, relu);
    }

    /** One axis's float32 table from in to out for to's mode (nearest or bilinear), as Tensor.interpolate makes it. */
    private static ResizeKernels.Axis axis(int in, int out, ResizeSpec to) {
        return to.mode() == InterpolationMode.NEAREST ? ResizeKernels.nearest(in, out, 0) : ResizeKernels.bilinear(in, out, to.alignCorners(), 0, true);
    }

    /** Room for the output planes' statistics, as ConvOps.statisticsRoom for the joined map. */
    static NormOps.PlaneStatistics statisticsRoom(List<Tensor> maps, Tensor weight, ConvOptions o, boolean training) {
        return ConvOps.statisticsRoom(joinedShape(maps), maps.get(0).dtype, weight, o, training);
    }

    /** As above, the maps resized to to's size. */
    static NormOps.PlaneStatistics statisticsRoom(List<Tensor> maps, ResizeSpec to, Tensor weight, ConvOptions o, boolean training) {
        return ConvOps.statisticsRoom(joinedShape(maps, to), maps.get(0).dtype, weight, o, training);
    }

    static Tensor[] backward(Node.Conv2dOfConcat n, Tensor g) {
        ConvGeom geom = n.geom();
        List<Tensor> maps = n.maps();
        Tensor w = n.weight(), b = n.bias(), gd = g.dense();
        PointwiseParts.Parts parts = parts(maps, n.resized());
        Tensor[] grads = new Tensor[maps.size() + (b == null ? 1 : 2)];
        InputGradients in = InputGradients.of(maps, grads);
        Tensor wd = w.dense();
        Tensor gw = w.requiresGrad() ? Tensor.emptyToOverwrite(w.shape, DType.F32) : null;
        grads[maps.size()] = gw;
        if (n.resized() != null) { // resized maps' output gradients serve both gradients: made once, chunk by chunk
            PointwiseParts.backwardOfChunks(in.any() ? in.into() : null, in.offsets(), gw == null ? null : gw.f(), PointwiseParts.copied(gd.f(), gd.offset, geom),
                    wd.f(), wd.offset, parts, geom);
        } else {
            if (in.any()) PointwiseParts.backwardData(in.into(), in.offsets(), gd.f(), gd.offset, wd.f(), wd.offset, parts, geom);
            if (gw != null) Conv2dKernels.backwardWeight(gw.f(), gd.f(), gd.offset, parts, geom);
        }
        gd.recycleIfCopyOf(g);
        if (b != null && b.requiresGrad()) grads[maps.size() + 1] = g.sum(false, 0, 2, 3);
        return grads;
    }

    /** True when {@link #backwardOfChunks} takes n: no bias, the parts route (float32; ConcatConvOps records it only there). */
    static boolean takesChunks(Node.Conv2dOfConcat n) {
        return n.bias() == null && n.maps().get(0).dtype == DType.F32 && PointwiseParts.applies(n.geom());
    }

    /** backward's rules (where takesChunks(n)) with the output gradient made chunk by chunk by dOut (PointwiseParts.backwardOfChunks). */
    static Tensor[] backwardOfChunks(Node.Conv2dOfConcat n, Conv2dKernels.OutputGradient dOut) {
        if (!takesChunks(n)) throw new IllegalArgumentException("conv2d of concat backward: these gradients do not run chunk by chunk: " + n.geom());
        List<Tensor> maps = n.maps();
        Tensor w = n.weight();
        Tensor[] grads = new Tensor[maps.size() + 1];
        InputGradients in = InputGradients.of(maps, grads);
        Tensor gw = w.requiresGrad() ? Tensor.emptyToOverwrite(w.shape, DType.F32) : null;
        grads[maps.size()] = gw;
        Tensor wd = w.dense();
        if (in.any() || gw != null)
            PointwiseParts.backwardOfChunks(in.any() ? in.into() : null, in.offsets(), gw == null ? null : gw.f(), dOut, wd.f(), wd.offset,
                    parts(maps, n.resized()), n.geom());
        return grads;
    }

    /** The maps' input gradients as the kernels write them: into[i] (null where map i takes none) from offsets[i]; any, whether one does. */
    private record InputGradients(float[][] into, int[] offsets, boolean any) {
        /** A fresh tensor in grads[i] for each map i that requires a gradient. */
        static InputGradients of(List<Tensor> maps, Tensor[] grads) {
            float[][] into = new float[maps.size()][];
            int[] offsets = new int[maps.size()];
            boolean any = false;
            for (int i = 0; i < maps.size(); i++) {
                if (!maps.get(i).requiresGrad()) continue;
                grads[i] = Tensor.emptyToOverwrite(maps.get(i).shape, DType.F32);
                into[i] = grads[i].f();
                offsets[i] = grads[i].offset;
                any = true;
            }
            return new InputGradients(into, offsets, any);
        }
    }

    /** The maps' dense planes as the kernels read them (maps already dense are read in place), map i resized by resized[i] (the array may be null). */
    private static PointwiseParts.Parts parts(List<Tensor> maps, ResizeKernels.Prepared[] resized) {
        int count = maps.size();
        float[][] data = new float[count][];
        int[] offsets = new int[count], channels = new int[count];
        for (int i = 0; i < count; i++) {
            Tensor d = maps.get(i).dense();
            data[i] = d.f();
            offsets[i] = d.offset;
            channels[i] = d.shape.dim(1);
        }
        return new PointwiseParts.Parts(data, offsets, channels, resized);
    }

    /** [N, sum of channels, H, W] of maps that agree in everything else; one sentence naming the disagreement otherwise. */
    private static Shape joinedShape(List<Tensor> maps) {
        return joinedShape(maps, null);
    }

    /** As above, the maps' sizes free where to is not null: [N, sum of channels, to.h, to.w]. */
    private static Shape joinedShape(List<Tensor> maps, ResizeSpec to) {
        if (maps.isEmpty()) throw new IllegalArgumentException(OP + ": needs at least one map");
        Tensor first = maps.get(0);
        int channels = 0;
        for (Tensor m : maps) {
            if (m.rank() != 4) throw new IllegalArgumentException(OP + ": maps must be [N, C, H, W], not " + m.shape);
            Elementwise.checkSameDtype(OP, first, m);
            if (m.shape.dim(0) != first.shape.dim(0) || to == null && (m.shape.dim(2) != first.shape.dim(2) || m.shape.dim(3) != first.shape.dim(3)))
                throw new IllegalArgumentException(OP + ": maps " + first.shape + " and " + m.shape + " differ outside the channels" + (to == null ? "" : " and the size"));
            if (to != null && m.numel() == 0) throw new IllegalArgumentException(OP + ": map " + m.shape + " is empty");
            channels += m.shape.dim(1);
        }
        return to == null ? Shape.of(first.shape.dim(0), channels, first.shape.dim(2), first.shape.dim(3)) : Shape.of(first.shape.dim(0), channels, to.h(), to.w());
    }
}
