package io.featurefuse.engine.cpu;

/** Element-wise binary primitives. The MASK and GRAD ops are gradient helpers and are not differentiable. */
public enum BinaryOp {
    ADD("add"), SUB("sub"), MUL("mul"), DIV("div"), POW("pow"), MAX("maximum"), MIN("minimum"),
    /** 1 where a &gt; b, 0.5 where a == b, else 0: the share of maximum's gradient that goes to a. */
    MAX_MASK("max_mask"),
    /** 1 where a == b, else 0. */
    EQ_MASK("eq_mask"),
    /** a where b &gt; 0, else 0: ReLU's backward (gradient a, input b) in one pass, 0 at b == 0 as PyTorch. */
    RELU_GRAD("relu_grad"),
    /** relu(a + b) in one pass (a residual block's sum and activation); NaN stays NaN, as relu. */
    ADD_RELU("add_relu");

    public final String opName;

    BinaryOp(String opName) {
        this.opName = opName;
    }

    /** The float64 definition every kernel is checked against. */
    public double apply(double a, double b) {
        return switch (this) {
            case ADD -> a + b;
            case SUB -> a - b;
            case MUL -> a * b;
            case DIV -> a / b;
            case POW -> Math.pow(a, b);
            case MAX -> Double.isNaN(a) || Double.isNaN(b) ? Double.NaN : Math.max(a, b);
            case MIN -> Double.isNaN(a) || Double.isNaN(b) ? Double.NaN : Math.min(a, b);
            case MAX_MASK -> a > b ? 1 : a == b ? 0.5 : 0;
            case EQ_MASK -> a == b ? 1 : 0;
            case RELU_GRAD -> b > 0 ? a : 0;
            case ADD_RELU -> UnaryOp.RELU.apply(a + b, 0, 0);
        };
    }
}
