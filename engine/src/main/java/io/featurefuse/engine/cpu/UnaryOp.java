package io.featurefuse.engine.cpu;

/**
 * Element-wise unary primitives, some with parameters p and q. The *_MASK and *_DERIV ops are
 * the local derivatives used by backward; they are not differentiable themselves.
 */
public enum UnaryOp {
    COPY("copy"), NEG("neg"), ABS("abs"), SIGN("sign"), EXP("exp"), LOG("log"), SQRT("sqrt"),
    RELU("relu"), SIGMOID("sigmoid"), TANH("tanh"), GELU("gelu"), SILU("silu"),
    /** p = negative slope. */
    LEAKY_RELU("leaky_relu"),
    /** p = min, q = max. */
    CLAMP("clamp"),
    /** p = exponent. */
    POW_SCALAR("pow"),
    /** 1 where x &gt; 0, else 0 (relu's derivative, 0 at 0 as in PyTorch). */
    RELU_MASK("relu_mask"),
    /** 1 where x &gt; 0, else p. */
    LEAKY_MASK("leaky_mask"),
    /** 1 where p &lt;= x &lt;= q, else 0. */
    CLAMP_MASK("clamp_mask"),
    /** d gelu / dx = Phi(x) + x phi(x). */
    GELU_DERIV("gelu_deriv"),
    /** d silu / dx = s (1 + x (1 - s)), s = sigmoid(x). */
    SILU_DERIV("silu_deriv");

    public final String opName;

    UnaryOp(String opName) {
        this.opName = opName;
    }

    private static final double INV_SQRT2 = 0.7071067811865476;
    private static final double INV_SQRT_2PI = 0.3989422804014327;

    /** The float64 definition every kernel is checked against. */
    public double apply(double x, double p, double q) {
        return switch (this) {
            case COPY -> x;
            case NEG -> -x;
            case ABS -> Math.abs(x);
            case SIGN -> Math.signum(x);
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case SQRT -> Math.sqrt(x);
            case RELU -> x > 0 ? x : (Double.isNaN(x) ? x : 0);
            case SIGMOID -> 1 / (1 + Math.exp(-x));
            case TANH -> Math.tanh(x);
            case GELU -> 0.5 * x * (1 + Erf.erf(x * INV_SQRT2));
            case SILU -> x / (1 + Math.exp(-x));
            case LEAKY_RELU -> x > 0 ? x : x * p;
            case CLAMP -> Double.isNaN(x) ? x : Math.min(Math.max(x, p), q);
            case POW_SCALAR -> Math.pow(x, p);
            case RELU_MASK -> x > 0 ? 1 : 0;
            case LEAKY_MASK -> x > 0 ? 1 : p;
            case CLAMP_MASK -> x >= p && x <= q ? 1 : 0;
            case GELU_DERIV -> 0.5 * (1 + Erf.erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
            case SILU_DERIV -> {
                double s = 1 / (1 + Math.exp(-x));
                yield s * (1 + x * (1 - s));
            }
        };
    }
}
