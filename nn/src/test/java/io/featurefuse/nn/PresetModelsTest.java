package io.featurefuse.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.DType;
import io.featurefuse.engine.Loss;
import io.featurefuse.engine.Tensor;
import io.featurefuse.engine.io.SafeTensors;
import io.featurefuse.nn.models.Backbones;
import io.featurefuse.nn.models.Classifier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The presets against PyTorch (tools/golden_models.py): same keys, same logits, same gradients. */
class PresetModelsTest {
    static Path golden(String file) throws Exception {
        return Path.of(PresetModelsTest.class.getResource("/golden/" + file).toURI());
    }

    @ParameterizedTest
    @ValueSource(strings = {"resnet_a", "vgg_b"})
    void loadsPyTorchStateDictAndGivesItsLogits(String name) throws Exception {
        Map<String, Tensor> state = SafeTensors.read(golden(name + ".safetensors")).tensors();
        Map<String, Tensor> ref = SafeTensors.read(golden(name + ".io.safetensors")).tensors();
        Classifier m = new Classifier(name, Backbones.create(name, 1, new SplittableRandom(1)), 10, new SplittableRandom(2));
        assertEquals(new ArrayList<>(state.keySet()), new ArrayList<>(m.stateDict().keySet()), "same keys in the same order");
        assertTrue(m.loadStateDict(state, true).clean());
        Tensor x = ref.get("input").to(DType.F32);

        m.eval();
        assertClose(ref.get("logits_eval"), m.call(x), 2e-4);
        m.train();
        Tensor logits = m.call(x);
        assertClose(ref.get("logits_train"), logits, 2e-4);
        Loss.crossEntropy(logits, new int[] {0, 3, 5, 9}).backward();
        assertClose(ref.get("grad_fc_weight"), m.namedParameters().get("fc.weight").grad(), 2e-4);
        assertClose(ref.get("grad_conv0_weight"), m.namedParameters().get("body.0.weight").grad(), 5e-4);
        assertClose(ref.get("running_mean_after"), m.stateDict().get("body.1.running_mean"), 1e-5);
        assertEquals(8, m.stateDict().get("body.1.num_batches_tracked").item());
    }

    static void assertClose(Tensor expected, Tensor actual, double tol) {
        assertArrayEquals(expected.shape().toArray(), actual.shape().toArray());
        double[] e = expected.toArray(), a = actual.toArray();
        double scale = 0;
        for (double v : e) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < e.length; i++)
            assertEquals(e[i], a[i], tol * Math.max(1, scale), "element " + i);
    }
}
