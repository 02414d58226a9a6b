package io.featurefuse.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Same input, same bits: every call of an op gives the first call's result, also after the JIT
 * has compiled its kernels (the interpreter and C2 once summed vector lanes in different orders,
 * so batch-norm statistics changed mid-run; and the Vector API's exp/log switch from Math.* per
 * lane to SVML once compiled; the vector average pool once summed its lanes with reduceLanes, which made
 * training differ between runs of one seed). Training is bit-for-bit repeatable only on this.
 */
class DeterminismTest {
    @Test
    void opsGiveTheSameBitsOnEveryCall() {
        SplittableRandom r = new SplittableRandom(5);
        Tensor h = Tensor.randn(r, 16, 8, 14, 14), w = Tensor.randn(r, 8, 1, 3, 3), wide = Tensor.randn(r, 4, 3000);
        Tensor rm = Tensor.zeros(8), rv = Tensor.ones(8), g = Tensor.ones(8), b = Tensor.zeros(8);
        Map<String, Supplier<double[]>> ops = new LinkedHashMap<>();
        ops.put("batchNorm", () -> h.batchNorm(rm.copy(), rv.copy(), g, b, true, 0.1, 1e-5).toArray());
        ops.put("batchNorm backward", () -> {
            Tensor x = h.copy().requiresGrad(true);
            x.batchNorm(null, null, g, b, true, 0.1, 1e-5).mul(h).sum().backward();
            return x.grad().toArray();
        });
        ops.put("depthwise conv weight gradient", () -> {
            Tensor k = w.copy().requiresGrad(true);
            h.conv2d(k, null, ConvOptions.of(1, 1).withGroups(8)).mul(h).sum().backward();
            return k.grad().toArray();
        });
        ops.put("global average pool", () -> h.adaptiveAvgPool2d(1, 1).toArray());
        ops.put("sum", () -> wide.sum(false, 1).toArray());
        ops.put("logSoftmax", () -> wide.logSoftmax(1).toArray());
        ops.put("exp, log, tanh, sigmoid, gelu", () -> wide.exp().add(wide.abs().add(1).log()).add(wide.tanh()).add(wide.sigmoid()).add(wide.gelu()).toArray());
        for (var e : ops.entrySet()) {
            double[] first = e.getValue().get();
            for (int t = 0; t < 400; t++) assertArrayEquals(first, e.getValue().get(), e.getKey() + ", call " + t);
        }
    }
}
