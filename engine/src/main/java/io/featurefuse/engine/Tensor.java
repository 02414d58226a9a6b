package io.featurefuse.engine;

import io.featurefuse.engine.cpu.BinaryOp;
import io.featurefuse.engine.cpu.UnaryOp;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * An n-dimensional array of float32 (compute) or float64 (reference, gradient checks) with
 * reverse-mode autograd. Images are NCHW. Storage is row-major; views (reshape of a contiguous
 * tensor, permute, transpose, expand, narrow, slice) share it through strides and an offset,
 * and every computing op reads views in place. The public API is functional: ops return new
 * tensors and never modify their inputs ({@link #assign} is the one, guarded, exception).
 *
 * <p>This class is the math surface; kernels live in {@code cpu}, the op families (forward and
 * backward side by side) in Elementwise, ReduceOps, ViewOps, MatMulOp, ConvOps, PoolOps,
 * NormOps and ResizeOps.
 */
public final class Tensor {
    final Shape shape;
    final int[] strides;
    final int offset;
    final DType dtype;
    /** The array, shared with views; float32 or float64 by dtype. */
    final Storage storage;
    /** Whether this tensor made its storage, rather than being a view of another tensor's. */
    final boolean ownsStorage;
    private boolean requiresGrad;
    Tensor grad;
    Autograd.GradFn gradFn;

    Tensor(Shape shape, int[] strides, int offset, DType dtype, Storage storage, boolean ownsStorage) {
        this.ownsStorage = ownsStorage;
        this.shape = shape;
        this.strides = strides;
        this.offset = offset;
        this.dtype = dtype;
        this.storage = storage;
    }

    /** float32 storage, or null for float64; an error once the buffer was recycled. */
    float[] f() {
        return storage.f(this);
    }

    /** float64 storage, or null for float32; an error once the buffer was recycled. */
    double[] d() {
        return storage.d(this);
    }

    /** A new contiguous tensor of zeros (its array possibly a recycled one, see BufferPool). */
    static Tensor empty(Shape shape, DType dtype) {
        int n = shape.numel();
        return new Tensor(shape, shape.contiguousStrides(), 0, dtype,
                new Storage(dtype == DType.F32 ? BufferPool.floats(n) : null, dtype == DType.F64 ? BufferPool.doubles(n) : null), true);
    }

    /**
     * A new contiguous tensor for an op whose kernel writes every element (saves zeroing a reused
     * buffer: ~6% of a training step). Its contents are unspecified until then.
     */
    static Tensor emptyToOverwrite(Shape shape, DType dtype) {
        int n = shape.numel();
        return new Tensor(shape, shape.contiguousStrides(), 0, dtype,
                new Storage(dtype == DType.F32 ? BufferPool.floatsToOverwrite(n) : null, dtype == DType.F64 ? BufferPool.doublesToOverwrite(n) : null), true);
    }

    /** A view of this tensor's storage with another shape, strides and offset. */
    Tensor view(Shape shape, int[] strides, int offset) {
        return new Tensor(shape, strides, offset, dtype, storage, false);
    }


    /** Links out to the tape when recording and any input needs a gradient. */
    static Tensor record(Tensor out, Node node) {
        if (!GradMode.isEnabled()) return out;
        for (Tensor x : node.inputs()) {
            if (x.requiresGrad) {
                out.gradFn = new Autograd.GradFn(node);
                out.requiresGrad = true;
                return out;
            }
        }
        return out;
    }

    // ---- factories -----------------------------------------------------------------------

    public static Tensor zeros(int... dims) {
        return empty(Shape.of(dims), DType.F32);
    }

    public static Tensor ones(int... dims) {
        return full(Shape.of(dims), DType.F32, 1);
    }

    public static Tensor full(Shape shape, DType dtype, double value) {
        Tensor t = empty(shape, dtype);
        if (dtype == DType.F32) java.util.Arrays.fill(t.f(), (float) value);
        else java.util.Arrays.fill(t.d(), value);
        return t;
    }

    /** A 0-dim float32 tensor. */
    public static Tensor scalar(double value) {
        return full(Shape.of(), DType.F32, value);
    }

    /** A float32 tensor holding a copy of data, with the given dims. */
    public static Tensor of(float[] data, int... dims) {
        Shape s = Shape.of(dims);
        checkLength(data.length, s);
        Tensor t = empty(s, DType.F32);
        System.arraycopy(data, 0, t.f(), 0, data.length);
        return t;
    }

    /** A float64 tensor holding a copy of data, with the given dims. */
    public static Tensor of(double[] data, int... dims) {
        Shape s = Shape.of(dims);
        checkLength(data.length, s);
        Tensor t = empty(s, DType.F64);
        System.arraycopy(data, 0, t.d(), 0, data.length);
        return t;
    }

    private static void checkLength(int length, Shape s) {
        if (length != s.numel())
            throw new IllegalArgumentException("of: " + length + " values do not fill shape " + s + " (" + s.numel() + " elements)");
    }

    /** 0, 1, ..., n-1 as float32. */
    public static Tensor arange(int n) {
        Tensor t = empty(Shape.of(n), DType.F32);
        for (int i = 0; i < n; i++) t.f()[i] = i;
        return t;
    }

    /** Uniform in [lo, hi), float32, drawn from rng (pass a seeded generator for repeatable runs). */
    public static Tensor uniform(RandomGenerator rng, double lo, double hi, int... dims) {
        return Init.uniform(rng, lo, hi, Shape.of(dims));
    }

    /** Normal(mean, std), float32. */
    public static Tensor normal(RandomGenerator rng, double mean, double std, int... dims) {
        return Init.normal(rng, mean, std, Shape.of(dims));
    }

    /** Standard normal, float32. */
    public static Tensor randn(RandomGenerator rng, int... dims) {
        return Init.normal(rng, 0, 1, Shape.of(dims));
    }

    /**
     * Kaiming (He) uniform as PyTorch's {@code kaiming_uniform_(w, a)} with fan_in: bound =
     * sqrt(2 / (1 + a^2)) * sqrt(3 / fan_in), fan_in = dims[1] * (product of dims[2:]).
     */
    public static Tensor kaimingUniform(RandomGenerator rng, double a, int... dims) {
        return Init.kaimingUniform(rng, a, Shape.of(dims));
    }

    /** Kaiming (He) normal for ReLU: std = sqrt(2 / fan_in). */
    public static Tensor kaimingNormal(RandomGenerator rng, int... dims) {
        return Init.kaimingNormal(rng, Shape.of(dims));
    }

    // ---- properties and data access ------------------------------------------------------

    public Shape shape() { return shape; }

    public int size(int dim) { return shape.dim(shape.normalizeDim(dim, "size")); }

    public int rank() { return shape.rank(); }

    public int numel() { return shape.numel(); }

    public DType dtype() { return dtype; }

    /** True when the elements lie in row-major order with no gaps (offset aside). */
    public boolean isContiguous() {
        int expect = 1;
        for (int i = shape.rank() - 1; i >= 0; i--) {
            if (shape.dim(i) != 1 && strides[i] != expect) return false;
            expect *= shape.dim(i);
        }
        return true;
    }

    /** The value of a one-element tensor. */
    public double item() {
        if (numel() != 1) throw new IllegalStateException("item: tensor of shape " + shape + " has " + numel() + " elements, not 1");
        return dtype == DType.F32 ? f()[offset] : d()[offset];
    }

    /** The element at the given indices (one per dim). */
    public double get(int... index) {
        if (index.length != rank())
            throw new IllegalArgumentException("get: " + index.length + " indices for a tensor of rank " + rank());
        int o = offset;
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0 || index[i] >= shape.dim(i))
                throw new IndexOutOfBoundsException("get: index " + index[i] + " is out of range for dim " + i + " of size " + shape.dim(i));
            o += index[i] * strides[i];
        }
        return dtype == DType.F32 ? f()[o] : d()[o];
    }

    /** The elements in row-major order, as float64 (exact for both dtypes). */
    public double[] toArray() {
        Tensor c = dense();
        double[] out = new double[numel()];
        if (dtype == DType.F64) System.arraycopy(c.d(), c.offset, out, 0, out.length);
        else for (int i = 0; i < out.length; i++) out[i] = c.f()[c.offset + i];
        return out;
    }

    /** The elements in row-major order, as float32. */
    public float[] toFloatArray() {
        Tensor c = dense();
        float[] out = new float[numel()];
        if (dtype == DType.F32) System.arraycopy(c.f(), c.offset, out, 0, out.length);
        else for (int i = 0; i < out.length; i++) out[i] = (float) c.d()[c.offset + i];
        return out;
    }

    /** This tensor, or a contiguous copy of it outside the graph: for kernels that need dense input. */
    Tensor dense() {
        if (isContiguous()) return this;
        try (var off = GradMode.off()) {
            return copy();
        }
    }

    // ---- autograd ------------------------------------------------------------------------

    public boolean requiresGrad() { return requiresGrad; }

    /** Marks a leaf tensor as a parameter whose gradient backward() accumulates. Returns this. */
    public Tensor requiresGrad(boolean on) {
        if (gradFn != null && !on)
            throw new IllegalStateException("requiresGrad(false): this tensor is the output of '" + gradFn.opName()
                    + "'; use detach() to cut it from the graph");
        requiresGrad = on || gradFn != null;
        return this;
    }

    /** The accumulated gradient of a leaf, or null before any backward. */
    public Tensor grad() { return grad; }

    /** Forgets the accumulated gradient. */
    public void zeroGrad() { grad = null; }

    /** True for tensors no recorded op produced (inputs and parameters). */
    public boolean isLeaf() { return gradFn == null; }

    /**
     * Overwrites this tensor's elements with src's (broadcast to this shape): for running
     * statistics and optimizer steps. Like PyTorch's in-place ops on a leaf that requires grad,
     * it is refused while recording; run it under GradMode.off().
     */
    public void assign(Tensor src) {
        checkInPlaceUpdate("assign", src);
        boolean aliased = src.storage == storage;
        try (var off = GradMode.off()) {
            Elementwise.copyInto(this, aliased ? src.copy() : src); // a view of this storage is read before it is overwritten
        }
    }

    /**
     * this = a this + b src (src broadcast to this shape), in place: what optimizers do to momentum
     * buffers and parameters, without a temporary tensor per term (SGD with weight decay and
     * momentum made eight parameter-sized ones a step, written out through the heap). Refused
     * while recording, like {@link #assign}, and on a broadcast view (one element under many indices).
     */
    public void scaleAndAdd(double a, Tensor src, double b) {
        checkInPlaceUpdate("scaleAndAdd", src);
        for (int d = 0; d < shape.rank(); d++)
            if (strides[d] == 0 && shape.dim(d) > 1)
                throw new IllegalArgumentException("scaleAndAdd: this tensor " + shape + " is a broadcast view (dim " + d + " has stride 0); update a contiguous copy");
        try (var off = GradMode.off()) {
            // another view of this storage would be read after some of it was overwritten; this very view reads each element just before writing it
            boolean sameView = src.offset == offset && src.shape.equals(shape) && java.util.Arrays.equals(src.strides, strides);
            Elementwise.scaleAndAddInto(this, a, src.storage == storage && !sameView ? src.copy() : src, b);
        }
    }

    /** What an in-place update from src needs: this is a leaf, not recording, and src has its dtype and broadcasts to its shape. */
    private void checkInPlaceUpdate(String op, Tensor src) {
        if (requiresGrad && GradMode.isEnabled())
            throw new IllegalStateException(op + ": this tensor requires grad; update it inside try (var g = GradMode.off()) { ... }");
        if (gradFn != null) throw new IllegalStateException(op + ": this tensor is the output of '" + gradFn.opName() + "', not a leaf");
        Elementwise.checkSameDtype(op, this, src);
        if (!Shape.broadcast(shape, src.shape, op).equals(shape))
            throw new IllegalArgumentException(op + ": source " + src.shape + " does not broadcast to " + shape);
    }

    /** The same data, cut from the graph: no gradient flows through the result. */
    public Tensor detach() {
        return view(shape, strides, offset);
    }

    /** Backpropagates from this scalar (gradient 1) and releases the graph. */
    public void backward() {
        Autograd.backward(this, null, false);
    }

    /** Backpropagates the given gradient of this tensor and releases the graph. */
    public void backward(Tensor grad) {
        Autograd.backward(this, grad, false);
    }

    /**
     * Backpropagates from this scalar like {@link #backward()}, and hands the buffers of the
     * graph's intermediate results (every tensor an op made on the way here, except this one) back
     * to the engine, which lends them to the next step's tensors of the same size: a training
     * step then reuses its memory instead of making garbage. Read what you need (logits, features)
     * before this call: reading a recycled tensor afterwards is an error that says so.
     */
    public void backwardAndRecycle() {
        Autograd.backward(this, null, false, true);
    }

    /**
     * Hands this tensor's buffer back to the engine for tensors made later, as backward does with
     * intermediate results. Only for code that made the tensor and knows nobody holds it or a view
     * of it any more (layer chains do this with their intermediate results in inference; a loop of
     * {@code y = op(x); y.backward(g)} with y once backward has released its graph); reading it
     * afterwards is an error that says so. A view does not own its buffer, and a leaf that
     * requires grad (a parameter) or an op's output whose graph has not been released by a
     * backward is still needed: for those this does nothing.
     */
    public void recycle() {
        if (ownsStorage && (gradFn == null ? !requiresGrad : gradFn.isFreed())) storage.recycle();
    }

    /**
     * For a backward rule done with {@code source.dense()} (this): hands the copy back when one was
     * made (source strided: a slice or transpose of another gradient), or every step leaves it to
     * the collector (9.6 MB a step was resize backward's copy of concat's gradient slice, before it
     * read that slice in place).
     */
    void recycleIfCopyOf(Tensor source) {
        if (this != source) recycle();
    }

    /** Whether the two tensors share one buffer (one is a view of the other, or both of a third). */
    public boolean sharesStorage(Tensor other) {
        return storage == other.storage;
    }

    /** Backpropagates; with retainGraph the graph stays usable for another backward. */
    public void backward(Tensor grad, boolean retainGraph) {
        Autograd.backward(this, grad, retainGraph);
    }

    // ---- element-wise (NumPy broadcasting) -----------------------------------------------

    public Tensor add(Tensor o) { return Elementwise.binary(BinaryOp.ADD, this, o); }
    public Tensor sub(Tensor o) { return Elementwise.binary(BinaryOp.SUB, this, o); }
    public Tensor mul(Tensor o) { return Elementwise.binary(BinaryOp.MUL, this, o); }
    public Tensor div(Tensor o) { return Elementwise.binary(BinaryOp.DIV, this, o); }
    public Tensor pow(Tensor o) { return Elementwise.binary(BinaryOp.POW, this, o); }
    public Tensor maximum(Tensor o) { return Elementwise.binary(BinaryOp.MAX, this, o); }
    public Tensor minimum(Tensor o) { return Elementwise.binary(BinaryOp.MIN, this, o); }
    /** relu(this + o) in one pass and one buffer (a residual block's sum and activation); the same numbers as add then relu. */
    public Tensor addRelu(Tensor o) { return Elementwise.binary(BinaryOp.ADD_RELU, this, o); }

    public Tensor add(double s) { return add(constant(s)); }
    public Tensor sub(double s) { return sub(constant(s)); }
    public Tensor mul(double s) { return mul(constant(s)); }
    public Tensor div(double s) { return div(constant(s)); }
    public Tensor maximum(double s) { return maximum(constant(s)); }
    public Tensor minimum(double s) { return minimum(constant(s)); }
    public Tensor pow(double p) { return Elementwise.unary(UnaryOp.POW_SCALAR, this, p, 0); }

    /** s - this. */
    public Tensor rsub(double s) { return constant(s).sub(this); }

    private Tensor constant(double s) {
        return full(Shape.of(), dtype, s);
    }

    public Tensor neg() { return Elementwise.unary(UnaryOp.NEG, this, 0, 0); }
    public Tensor abs() { return Elementwise.unary(UnaryOp.ABS, this, 0, 0); }
    public Tensor sign() { return Elementwise.unary(UnaryOp.SIGN, this, 0, 0); }
    public Tensor exp() { return Elementwise.unary(UnaryOp.EXP, this, 0, 0); }
    /** Natural log; NaN for negative inputs and -inf at 0, as in IEEE and PyTorch. */
    public Tensor log() { return Elementwise.unary(UnaryOp.LOG, this, 0, 0); }
    public Tensor sqrt() { return Elementwise.unary(UnaryOp.SQRT, this, 0, 0); }
    public Tensor relu() { return Elementwise.unary(UnaryOp.RELU, this, 0, 0); }
    public Tensor leakyRelu(double negativeSlope) { return Elementwise.unary(UnaryOp.LEAKY_RELU, this, negativeSlope, 0); }
    public Tensor sigmoid() { return Elementwise.unary(UnaryOp.SIGMOID, this, 0, 0); }
    public Tensor tanh() { return Elementwise.unary(UnaryOp.TANH, this, 0, 0); }
    /** GELU, exact (erf) form as PyTorch's default. */
    public Tensor gelu() { return Elementwise.unary(UnaryOp.GELU, this, 0, 0); }
    public Tensor silu() { return Elementwise.unary(UnaryOp.SILU, this, 0, 0); }

    public Tensor clamp(double min, double max) {
        if (!(min <= max)) throw new IllegalArgumentException("clamp: min " + min + " is greater than max " + max);
        return Elementwise.unary(UnaryOp.CLAMP, this, min, max);
    }

    /** A contiguous copy (recorded: gradients flow through it). */
    public Tensor copy() { return Elementwise.unary(UnaryOp.COPY, this, 0, 0); }

    /** This tensor in another dtype (itself when it already has it). */
    public Tensor to(DType target) { return ViewOps.cast(this, target); }

    // ---- reductions ------------------------------------------------------------------------

    /** Sum of all elements, a 0-dim tensor. */
    public Tensor sum() { return ReduceOps.sum(this, false, false); }
    /** Sum over the given dims (all when none are given). */
    public Tensor sum(boolean keepdim, int... dims) { return ReduceOps.sum(this, keepdim, false, dims); }
    public Tensor mean() { return ReduceOps.sum(this, false, true); }
    public Tensor mean(boolean keepdim, int... dims) { return ReduceOps.sum(this, keepdim, true, dims); }
    /** Variance over dims with Bessel's correction (1 = unbiased, PyTorch's default; 0 = biased). */
    public Tensor var(int correction, boolean keepdim, int... dims) { return ReduceOps.var(this, correction, keepdim, dims); }
    /** Maximum over dims (all when none are given); ties share the gradient equally. */
    public Tensor max(boolean keepdim, int... dims) { return ReduceOps.extremum(this, true, keepdim, dims); }
    public Tensor min(boolean keepdim, int... dims) { return ReduceOps.extremum(this, false, keepdim, dims); }
    /** Index of the first maximum along dim, in the shape of the input without that dim (or with it as 1). */
    public Indices argmax(int dim, boolean keepdim) { return ReduceOps.argmax(this, dim, keepdim); }
    public Tensor softmax(int dim) { return ReduceOps.softmax(this, dim); }
    public Tensor logSoftmax(int dim) { return ReduceOps.logSoftmax(this, dim); }

    // ---- linear algebra --------------------------------------------------------------------

    /** Matrix product; leading (batch) dims broadcast, a 1-dim operand is treated as a vector. */
    public Tensor matmul(Tensor o) { return MatMulOp.matmul(this, o); }

    /** this @ weight^T + bias, as torch.nn.functional.linear; bias may be null. */
    public Tensor linear(Tensor weight, Tensor bias) { return MatMulOp.linear(this, weight, bias); }

    /**
     * 2-D convolution of this [N, C, H, W] input with weight [out, C / groups, kH, kW] and an
     * optional bias [out], as torch.nn.functional.conv2d.
     */
    public Tensor conv2d(Tensor weight, Tensor bias, ConvOptions options) { return ConvOps.conv2d(this, weight, bias, options); }

    /**
     * Transposed convolution (learned upsampling) of [N, in, H, W] with weight
     * [in, out / groups, kH, kW], as torch.nn.functional.conv_transpose2d; outputPadding adds
     * rows / columns at the bottom / right and must be below the stride or the dilation.
     */
    public Tensor convTranspose2d(Tensor weight, Tensor bias, ConvOptions options, int outputPaddingH, int outputPaddingW) {
        return ConvOps.convTranspose2d(this, weight, bias, options, outputPaddingH, outputPaddingW);
    }

    /** Max pooling over [N, C, H, W], as torch.nn.functional.max_pool2d (ties: the first maximum takes the gradient). */
    public Tensor maxPool2d(PoolOptions options) { return PoolOps.maxPool2d(this, options); }
    /** Average pooling over [N, C, H, W], as torch.nn.functional.avg_pool2d. */
    public Tensor avgPool2d(PoolOptions options) { return PoolOps.avgPool2d(this, options); }
    /** Average pooling to an output size, as torch.nn.functional.adaptive_avg_pool2d; (1, 1) is global pooling. */
    public Tensor adaptiveAvgPool2d(int outH, int outW) { return PoolOps.adaptiveAvgPool2d(this, outH, outW); }
    /** Max pooling to an output size, as torch.nn.functional.adaptive_max_pool2d. */
    public Tensor adaptiveMaxPool2d(int outH, int outW) { return PoolOps.adaptiveMaxPool2d(this, outH, outW); }

    /**
     * Batch normalisation over dim 1 of [N, C, ...], as torch.nn.functional.batch_norm. In
     * training, batch statistics normalise (biased variance) and, when given, the running mean
     * and var are updated in place with momentum (the var unbiased, as PyTorch); in evaluation
     * the running statistics normalise. weight and bias may be null (no affine).
     */
    public Tensor batchNorm(Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                            boolean training, double momentum, double eps) {
        return NormOps.batchNorm(this, runningMean, runningVar, weight, bias, training, momentum, eps);
    }

    /** Group normalisation of [N, C, ...] over groups of channels, as torch.nn.functional.group_norm. */
    public Tensor groupNorm(int groups, Tensor weight, Tensor bias, double eps) {
        return NormOps.groupNorm(this, groups, weight, bias, eps);
    }

    /** Layer normalisation over the trailing dims normalizedShape, as torch.nn.functional.layer_norm. */
    public Tensor layerNorm(int[] normalizedShape, Tensor weight, Tensor bias, double eps) {
        return NormOps.layerNorm(this, normalizedShape, weight, bias, eps);
    }

    /**
     * Resizes [N, C, H, W] to outH x outW, as torch.nn.functional.interpolate(size=...): nearest,
     * bilinear (alignCorners picks the corner rule) or area (adaptive average).
     */
    public Tensor interpolate(int outH, int outW, InterpolationMode mode, boolean alignCorners) {
        return ResizeOps.interpolate(this, outH, outW, 0, 0, mode, alignCorners);
    }

    /** Resizes by scale factors: size floor(H * scaleH) x floor(W * scaleW), coordinates mapped by 1 / scale, as PyTorch. */
    public Tensor interpolateScale(double scaleH, double scaleW, InterpolationMode mode, boolean alignCorners) {
        if (rank() != 4) throw new IllegalArgumentException("interpolate: input must be [N, C, H, W], not " + shape);
        int oh = ResizeOps.scaledSize(shape.dim(2), scaleH), ow = ResizeOps.scaledSize(shape.dim(3), scaleW);
        // area takes no scale for its coordinates; the others map with 1 / scale
        return ResizeOps.interpolate(this, oh, ow, scaleH, scaleW, mode, alignCorners);
    }

    /**
     * Inverted dropout: each element is zeroed with probability p and the rest are scaled by
     * 1 / (1 - p), so the expectation is unchanged; the mask is drawn from rng in row-major
     * order (seeded runs repeat). p = 1 gives zeros. Call it in training only.
     */
    public Tensor dropout(double p, RandomGenerator rng) {
        if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("dropout: probability " + p + " must lie in [0, 1]");
        if (p == 0) return this;
        Tensor mask = empty(shape, dtype);
        double keep = p == 1 ? 0 : 1 / (1 - p);
        int n = numel();
        for (int i = 0; i < n; i++) {
            double v = rng.nextDouble() < p ? 0 : keep;
            if (dtype == DType.F32) mask.f()[i] = (float) v;
            else mask.d()[i] = v;
        }
        return mul(mask);
    }

    // ---- shape and views -------------------------------------------------------------------

    /** The same elements in another shape (one dim may be -1); a view when contiguous. */
    public Tensor reshape(int... dims) { return ViewOps.reshape(this, dims, false); }
    /** Like reshape, but never copies: fails on a non-contiguous tensor. */
    public Tensor view(int... dims) { return ViewOps.reshape(this, dims, true); }
    public Tensor permute(int... dims) { return ViewOps.permute(this, dims); }
    public Tensor transpose(int dim0, int dim1) { return ViewOps.transpose(this, dim0, dim1); }
    /** This tensor when already contiguous, else a contiguous copy. */
    public Tensor contiguous() { return isContiguous() ? this : copy(); }
    /** A view repeating size-1 dims (and new leading dims) to the given sizes; -1 keeps a size. */
    public Tensor expand(int... dims) { return ViewOps.expand(this, dims); }
    /** length elements along dim starting at start, a view. */
    public Tensor narrow(int dim, int start, int length) { return ViewOps.slice(this, dim, start, start + length, 1); }
    /** Elements start, start+step, ... below end along dim, a view (Python's x[start:end:step]). */
    public Tensor slice(int dim, int start, int end, int step) { return ViewOps.slice(this, dim, start, end, step); }
    public Tensor unsqueeze(int dim) { return ViewOps.unsqueeze(this, dim); }
    public Tensor squeeze(int dim) { return ViewOps.squeeze(this, dim); }
    /** Merges dims startDim..endDim (inclusive) into one. */
    public Tensor flatten(int startDim, int endDim) { return ViewOps.flatten(this, startDim, endDim); }
    /** Pieces of size (the last may be smaller) along dim, as views. */
    public List<Tensor> split(int size, int dim) { return ViewOps.split(this, size, dim); }
    /** Pieces of the given sizes along dim, as views; the sizes must add up to the dim. */
    public List<Tensor> split(int[] sizes, int dim) { return ViewOps.split(this, sizes, dim); }
    /**
     * Constant padding as torch.nn.functional.pad: pads come in (before, after) pairs, the last
     * dim first; e.g. pad(0, 1, 1, 2, 2) pads W by 1 and H by 2 on each side.
     */
    public Tensor pad(double value, int... pads) { return ViewOps.pad(this, value, pads); }

    /** Joins tensors of equal shape but along dim. */
    public static Tensor concat(List<Tensor> tensors, int dim) { return ViewOps.concat(tensors, dim); }
    /** Joins tensors of equal shape along a new dim. */
    public static Tensor stack(List<Tensor> tensors, int dim) { return ViewOps.stack(tensors, dim); }

    /** PyTorch-style text: the values for small tensors, the shape for large ones. */
    @Override
    public String toString() {
        return TensorFormat.format(this);
    }
}
