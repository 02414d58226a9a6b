package io.featurefuse.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.DType;
import io.featurefuse.engine.Tensor;
import io.featurefuse.engine.io.SafeTensors;
import io.featurefuse.nn.layers.Conv2d;
import io.featurefuse.nn.layers.Linear;
import io.featurefuse.nn.models.Backbone;
import io.featurefuse.nn.models.Backbones;
import io.featurefuse.nn.models.Classifier;
import io.featurefuse.nn.models.FeatureTap;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModuleTest {
    static Classifier model(String spec, long seed) {
        return new Classifier(spec, Backbones.create(spec, 1, new SplittableRandom(seed)), 10, new SplittableRandom(seed + 1));
    }

    @Test
    void stateDictRoundTripsThroughSafetensorsWithIntegerCounters(@TempDir Path dir) throws Exception {
        Classifier a = model("resnet_a", 1), b = model("resnet_a", 2);
        a.train().call(Tensor.randn(new SplittableRandom(3), 2, 1, 28, 28));
        Path f = dir.resolve("m.safetensors");
        SafeTensors.write(f, a.stateDict(), Map.of(), a.integerStateKeys());
        String header = new String(Files.readAllBytes(f), 8, 200);
        assertTrue(Files.readString(f, java.nio.charset.StandardCharsets.ISO_8859_1).contains("\"body.1.num_batches_tracked\":{\"dtype\":\"I64\""), header);
        b.loadStateDict(SafeTensors.read(f).tensors(), true);
        Tensor x = Tensor.randn(new SplittableRandom(4), 3, 1, 28, 28);
        assertArrayEquals(a.eval().call(x).toArray(), b.eval().call(x).toArray());
        assertEquals(1, b.stateDict().get("body.4.sc.1.num_batches_tracked").item());
    }

    @Test
    void loadStateDictNamesMissingUnexpectedAndMisShapedKeys() {
        Classifier m = model("vgg_b", 1);
        Map<String, Tensor> state = new LinkedHashMap<>(model("vgg_b", 5).stateDict());
        state.remove("fc.bias");
        state.put("extra.weight", Tensor.zeros(2));
        var e = assertThrows(IllegalArgumentException.class, () -> m.loadStateDict(state, true));
        assertEquals("loadStateDict: 1 missing key: fc.bias; 1 unexpected key: extra.weight", e.getMessage());
        assertEquals("2 missing keys: a, b; 1 key with the wrong shape: c (file [1], model [2])",
                new StateDictReport(List.of("a", "b"), List.of(), List.of("c (file [1], model [2])")).describe());
        assertEquals("1 unexpected key: \"\" (an empty name)", new StateDictReport(List.of(), List.of(""), List.of()).describe());
        Tensor before = m.namedParameters().get("fc.bias");
        double[] kept = before.toArray();
        StateDictReport r = m.loadStateDict(state, false);
        assertEquals(List.of("fc.bias"), r.missing());
        assertArrayEquals(kept, m.namedParameters().get("fc.bias").toArray(), "missing keys keep their values");
        assertArrayEquals(state.get("fc.weight").toArray(), m.namedParameters().get("fc.weight").toArray());

        state.put("fc.weight", Tensor.zeros(3, 96));
        var shape = assertThrows(IllegalArgumentException.class, () -> m.loadStateDict(state, false));
        assertTrue(shape.getMessage().contains("fc.weight (file [3, 96], model [10, 96])"), shape.getMessage());
        Map<String, Tensor> f64 = new LinkedHashMap<>();
        model("vgg_b", 9).stateDict().forEach((k, v) -> f64.put(k, v.to(DType.F64)));
        m.loadStateDict(f64, true);
        assertEquals(DType.F32, m.namedParameters().get("fc.weight").dtype(), "values take the model's dtype");
    }

    @Test
    void freezingStopsGradientsForASubtree() {
        Classifier m = model("resnet_a", 1);
        m.body().freeze(true);
        assertEquals(650, m.parameterCount(true)); // fc: 64 * 10 + 10
        assertEquals(77290, m.parameterCount(false)); // the reference model's count, from PyTorch
        m.call(Tensor.randn(new SplittableRandom(1), 2, 1, 28, 28)).sum().backward();
        assertTrue(m.namedParameters().get("body.0.weight").grad() == null);
        assertFalse(m.namedParameters().get("fc.weight").grad() == null);
    }

    @Test
    void conv2dAndLinearUsePyTorchDefaultInitBounds() {
        Conv2d c = new Conv2d(8, 16, 3, 1, 1, true, new SplittableRandom(1));
        double bound = 1 / Math.sqrt(72);
        for (Tensor p : c.parameters()) assertTrue(p.abs().max(false).item() <= bound);
        Linear l = new Linear(100, 5, true, new SplittableRandom(2));
        assertTrue(l.namedParameters().get("weight").abs().max(false).item() > 0.09);
    }

    @Test
    void summaryListsShapesParamsAndFlopsWithoutTouchingRunningStats() {
        Classifier m = model("resnet_a", 1);
        double[] rm = m.stateDict().get("body.1.running_mean").toArray();
        String s = m.summary(1, 28, 28);
        assertTrue(s.contains("body.4.sc.0"), s);
        assertTrue(s.contains("[1, 64, 14, 14]"), s);
        assertTrue(s.contains("77,290 parameters"), s);
        // conv FLOPs of resnet_a: 2 * (32*9*784 + 2*32*32*9*784 + 64*32*9*196 + 64*64*9*196 + 64*32*196) + fc
        assertTrue(m.isTraining(), "mode restored");
        assertArrayEquals(rm, m.stateDict().get("body.1.running_mean").toArray());
    }

    @Test
    void backbonesExposeNamedFeatureTaps() {
        Backbone b = Backbones.create("vgg_b", 1, new SplittableRandom(1));
        assertEquals(List.of("conv1", "pool1", "conv2", "pool2", "conv3"), b.taps().stream().map(FeatureTap::name).toList());
        Map<String, Tensor> f = b.features(Tensor.randn(new SplittableRandom(2), 2, 1, 28, 28), List.of("conv2", "pool1"));
        assertArrayEquals(new int[] {2, 48, 14, 14}, f.get("conv2").shape().toArray());
        assertArrayEquals(new int[] {2, 32, 14, 14}, f.get("pool1").shape().toArray());
        var e = assertThrows(IllegalArgumentException.class, () -> b.features(Tensor.zeros(1, 1, 28, 28), List.of("conv9")));
        assertEquals("backbone has no feature tap 'conv9'; it has conv1, pool1, conv2, pool2, conv3", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> b.call(Tensor.zeros(1, 3, 28, 28)));
    }

    @Test
    void configurableBackbonesBuildForOneAndThreeChannels() {
        for (String spec : List.of("resnet:16x1,32x2", "vgg:8,16,32", "mobilenet:16,32")) {
            for (int in : new int[] {1, 3}) {
                Backbone b = Backbones.create(spec, in, new SplittableRandom(1));
                FeatureTap out = b.output();
                Tensor y = b.call(Tensor.randn(new SplittableRandom(2), 2, in, 32, 32));
                assertArrayEquals(new int[] {2, out.channels(), 32 / out.stride(), 32 / out.stride()}, y.shape().toArray(), spec);
            }
        }
        var e = assertThrows(IllegalArgumentException.class, () -> Backbones.create("resnet:16x", 1, new SplittableRandom(1)));
        assertEquals("model 'resnet:16x': stage '16x' is not valid; write e.g. resnet:32x2,64x2", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Backbones.create("alexnet", 1, new SplittableRandom(1)));
    }
}
