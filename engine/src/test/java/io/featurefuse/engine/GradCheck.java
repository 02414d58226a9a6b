package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Finite-difference gradient check in float64: the analytic gradient of sum(f(inputs) * w), for
 * fixed random weights w, against central differences (eps 1e-6) of the same function.
 */
public final class GradCheck {
    private GradCheck() {}

    public static void check(String what, Function<List<Tensor>, Tensor> f, Tensor... inputs) {
        check(what, f, 1e-6, 1e-5, inputs);
    }

    public static void check(String what, Function<List<Tensor>, Tensor> f, double atol, double rtol, Tensor... inputs) {
        for (Tensor x : inputs)
            if (x.dtype() != DType.F64) throw new IllegalArgumentException("gradcheck runs in float64");
        Tensor[] leaves = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) leaves[i] = inputs[i].copy().requiresGrad(true);
        Tensor out = f.apply(List.of(leaves));
        SplittableRandom rng = new SplittableRandom(out.numel() * 31L + 7);
        double[] w = new double[out.numel()];
        for (int i = 0; i < w.length; i++) w[i] = rng.nextDouble(-1, 1);
        Tensor weights = Tensor.of(w, out.shape().toArray());
        out.mul(weights).sum().backward();

        double eps = 1e-6;
        for (int i = 0; i < inputs.length; i++) {
            double[] base = inputs[i].toArray();
            double[] analytic = leaves[i].grad() == null ? new double[base.length] : leaves[i].grad().toArray();
            for (int j = 0; j < base.length; j++) {
                double plus = objective(f, inputs, i, base, j, eps, weights);
                double minus = objective(f, inputs, i, base, j, -eps, weights);
                double numeric = (plus - minus) / (2 * eps);
                if (Math.abs(numeric - analytic[j]) > atol + rtol * Math.abs(numeric))
                    fail(what + ": d/d input" + i + "[" + j + "] analytic " + analytic[j] + " vs numeric " + numeric
                            + " (input shape " + inputs[i].shape() + ")");
            }
        }
    }

    private static double objective(Function<List<Tensor>, Tensor> f, Tensor[] inputs, int which, double[] base, int j,
                                    double delta, Tensor weights) {
        Tensor[] xs = inputs.clone();
        double[] v = base.clone();
        v[j] += delta;
        xs[which] = Tensor.of(v, inputs[which].shape().toArray());
        try (var off = GradMode.off()) {
            return f.apply(List.of(xs)).mul(weights).sum().item();
        }
    }
}
