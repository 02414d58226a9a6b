package io.featurefuse.nn.layers;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;

/** A parameter-free element-wise non-linearity: ReLU, LeakyReLU, GELU (erf), SiLU or Sigmoid. */
public final class Activation extends Module {
    public enum Kind { RELU, LEAKY_RELU, GELU, SILU, SIGMOID }

    private final Kind kind;
    private final double slope;

    private Activation(Kind kind, double slope) {
        this.kind = kind;
        this.slope = slope;
    }

    public static Activation relu() { return new Activation(Kind.RELU, 0); }
    public static Activation leakyRelu(double negativeSlope) { return new Activation(Kind.LEAKY_RELU, negativeSlope); }
    public static Activation gelu() { return new Activation(Kind.GELU, 0); }
    public static Activation silu() { return new Activation(Kind.SILU, 0); }
    public static Activation sigmoid() { return new Activation(Kind.SIGMOID, 0); }

    public Kind kind() { return kind; }

    @Override
    public Tensor forward(Tensor x) {
        return switch (kind) {
            case RELU -> x.relu();
            case LEAKY_RELU -> x.leakyRelu(slope);
            case GELU -> x.gelu();
            case SILU -> x.silu();
            case SIGMOID -> x.sigmoid();
        };
    }

    @Override
    public String toString() {
        return switch (kind) {
            case RELU -> "ReLU";
            case LEAKY_RELU -> "LeakyReLU(" + slope + ")";
            case GELU -> "GELU";
            case SILU -> "SiLU";
            case SIGMOID -> "Sigmoid";
        };
    }
}
