package io.featurefuse.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.DType;
import io.featurefuse.engine.Tensor;
import io.featurefuse.engine.io.SafeTensors;
import io.featurefuse.nn.optim.Adam;
import io.featurefuse.nn.optim.LrSchedule;
import io.featurefuse.nn.optim.Optimizer;
import io.featurefuse.nn.optim.ParamGroup;
import io.featurefuse.nn.optim.Sgd;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Each optimizer against torch.optim with a cosine schedule (tools/golden_models.py), in float64 and float32. */
class OptimizerTest {
    @Test
    void optimizersMatchTorchOptimStepForStep() throws Exception {
        Map<String, Tensor> ref = SafeTensors.read(PresetModelsTest.golden("optim.safetensors")).tensors();
        Map<String, Function<List<ParamGroup>, Optimizer>> makers = Map.of(
                "sgd", g -> new Sgd(g, 0.9, 0, true),
                "sgd_plain", g -> new Sgd(g, 0.5, 0.1, false),
                "adam", Adam::adam,
                "adamw", Adam::adamW);
        Map<String, double[]> hyper = Map.of("sgd", new double[] {0.1, 5e-4}, "sgd_plain", new double[] {0.1, 0.01},
                "adam", new double[] {0.01, 0.01}, "adamw", new double[] {0.01, 0.1});
        for (DType dtype : DType.values()) {
            for (var e : makers.entrySet()) {
                Tensor p = ref.get("p0").to(dtype).copy().requiresGrad(true);
                double[] h = hyper.get(e.getKey());
                Optimizer opt = e.getValue().apply(List.of(new ParamGroup(List.of(p), h[0], h[1])));
                LrSchedule cos = LrSchedule.cosine(4);
                for (int i = 0; i < 3; i++) {
                    opt.scaleLr(cos.factor(i));
                    p.zeroGrad();
                    p.sum().backward(); // makes a gradient tensor, then overwrite it with the golden one
                    p.grad().assign(ref.get("grad" + i).to(dtype));
                    opt.step();
                    PresetModelsTest.assertClose(ref.get(e.getKey() + "." + i), p, dtype == DType.F64 ? 1e-12 : 2e-6);
                }
            }
        }
    }

    /**
     * SGD (weight decay, Nesterov momentum) updates in place: a step of a 4 MB parameter allocates
     * less than a quarter of it on this thread (the out-of-place update made eight parameter-sized
     * temporaries, 32 MB a step). The least of twelve steps counts: until C2 has compiled the
     * kernel, the Vector API allocates an object per vector operation.
     */
    @Test
    void sgdStepsMakeNoParameterSizedTemporaries() {
        Tensor p = Tensor.randn(new SplittableRandom(3), 1 << 20).requiresGrad(true);
        p.mul(p).sum().backward();
        Sgd opt = new Sgd(List.of(new ParamGroup(List.of(p), 0.1, 5e-4)), 0.9, 0, true);
        opt.step(); // makes the momentum buffer
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long least = Long.MAX_VALUE;
        for (int i = 0; i < 12; i++) {
            long before = threads.getCurrentThreadAllocatedBytes();
            opt.step();
            least = Math.min(least, threads.getCurrentThreadAllocatedBytes() - before);
        }
        assertTrue(least < 1 << 20, least + " bytes allocated by the leanest of twelve steps");
    }

    @Test
    void clipGradNormScalesToTheLimitLikePyTorch() {
        Tensor a = Tensor.of(new float[] {3, 0}, 2).requiresGrad(true), b = Tensor.of(new float[] {4}, 1).requiresGrad(true);
        a.mul(Tensor.of(new float[] {3, 0}, 2)).sum().add(b.mul(4).sum()).backward(); // grads (3, 0) and (4): norm 5
        assertEquals(5, Optimizer.clipGradNorm(List.of(a, b), 1), 1e-6);
        assertEquals(0.6, a.grad().get(0), 1e-6);
        assertEquals(0.8, b.grad().get(0), 1e-6);
    }

    @Test
    void schedulesFollowTheirFormulas() {
        assertEquals(1, LrSchedule.cosine(10).factor(0));
        assertEquals(0.5, LrSchedule.cosine(10).factor(5), 1e-12);
        assertEquals(0.25, LrSchedule.step(3, 0.5).factor(6));
        assertEquals(0.25, LrSchedule.constant().withWarmup(4).factor(0));
    }
}
