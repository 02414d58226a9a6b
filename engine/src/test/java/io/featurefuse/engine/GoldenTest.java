package io.featurefuse.engine;

import static io.featurefuse.engine.Fixtures.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.io.Json;
import io.featurefuse.engine.io.SafeTensors;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every CNN op against PyTorch's own outputs and gradients (tools/golden.py wrote them with
 * PyTorch in float64): the float64 reference to 1e-10 relative, the float32 kernels to float
 * tolerances. No PyTorch is needed to run this.
 */
class GoldenTest {

    /** One configuration: its parameters and tensors, names without the "i." prefix. */
    record Config(int index, Map<String, Object> p, Map<String, Tensor> t) {
        int i(String k) { return (int) (long) (Long) p.get(k); }
        int[] pair(String k) {
            List<?> l = (List<?>) p.get(k);
            return new int[] {(int) (long) (Long) l.get(0), (int) (long) (Long) l.get(1)};
        }
        double d(String k) { return ((Number) p.get(k)).doubleValue(); }
        boolean b(String k) { return (Boolean) p.get(k); }
        Tensor get(String k) { return t.get(k); }
    }

    static List<Config> load(String op) throws IOException, URISyntaxException {
        Path file = Path.of(GoldenTest.class.getResource("/golden/" + op + ".safetensors").toURI());
        SafeTensors.Contents c = SafeTensors.read(file);
        List<Config> out = new ArrayList<>();
        for (int i = 0; c.metadata().containsKey(String.valueOf(i)); i++) {
            @SuppressWarnings("unchecked")
            Map<String, Object> p = (Map<String, Object>) Json.parse(c.metadata().get(String.valueOf(i)));
            Map<String, Tensor> t = new java.util.HashMap<>();
            String prefix = i + ".";
            for (var e : c.tensors().entrySet()) if (e.getKey().startsWith(prefix)) t.put(e.getKey().substring(prefix.length()), e.getValue());
            out.add(new Config(i, p, t));
        }
        return out;
    }

    /** The op of a file, applied to the config's inputs (in the given dtype); returns the leaves by name and the output. */
    static Tensor apply(String op, Config c, Map<String, Tensor> leaves) {
        Tensor x = leaves.get("x");
        return switch (op) {
            case "conv2d" -> x.conv2d(leaves.get("w"), leaves.get("b"), convOptions(c));
            case "conv_transpose2d" -> x.convTranspose2d(leaves.get("w"), leaves.get("b"), convOptions(c),
                    c.pair("output_padding")[0], c.pair("output_padding")[1]);
            case "max_pool2d" -> x.maxPool2d(poolOptions(c));
            case "avg_pool2d" -> x.avgPool2d(poolOptions(c));
            case "adaptive_avg_pool2d" -> x.adaptiveAvgPool2d(c.pair("out")[0], c.pair("out")[1]);
            case "adaptive_max_pool2d" -> x.adaptiveMaxPool2d(c.pair("out")[0], c.pair("out")[1]);
            case "batch_norm" -> x.batchNorm(leaves.get("running_mean"), leaves.get("running_var"), leaves.get("w"), leaves.get("b"),
                    c.b("training"), c.d("momentum"), c.d("eps"));
            case "group_norm" -> x.groupNorm(c.i("groups"), leaves.get("w"), leaves.get("b"), c.d("eps"));
            case "layer_norm" -> x.layerNorm(new int[] {c.i("h"), c.i("w")}, leaves.get("w"), leaves.get("b"), c.d("eps"));
            case "interpolate" -> {
                InterpolationMode mode = InterpolationMode.valueOf(((String) c.p().get("mode")).toUpperCase());
                boolean align = c.b("align_corners");
                if (c.p().containsKey("scale")) {
                    List<?> s = (List<?>) c.p().get("scale");
                    yield x.interpolateScale(((Number) s.get(0)).doubleValue(), ((Number) s.get(1)).doubleValue(), mode, align);
                }
                yield x.interpolate(c.pair("size")[0], c.pair("size")[1], mode, align);
            }
            default -> throw new IllegalArgumentException(op);
        };
    }

    static ConvOptions convOptions(Config c) {
        int[] s = c.pair("stride"), p = c.pair("padding"), d = c.pair("dilation");
        return new ConvOptions(s[0], s[1], p[0], p[1], d[0], d[1], c.i("groups"));
    }

    static PoolOptions poolOptions(Config c) {
        int[] k = c.pair("kernel"), s = c.pair("stride"), p = c.pair("padding");
        return new PoolOptions(k[0], k[1], s[0], s[1], p[0], p[1], c.b("ceil_mode"), c.b("count_include_pad"));
    }

    static final List<String> LEAVES = List.of("x", "w", "b");

    @ParameterizedTest
    @ValueSource(strings = {"conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
            "batch_norm", "group_norm", "layer_norm", "interpolate"})
    void matchesPyTorch(String op) throws Exception {
        List<Config> configs = load(op);
        assertTrue(configs.size() >= 20, op + ": " + configs.size() + " configurations");
        for (Config c : configs) {
            for (DType dtype : DType.values()) {
                boolean ref = dtype == DType.F64;
                double atol = ref ? 1e-10 : 2e-5, rtol = ref ? 1e-10 : 2e-5;
                Map<String, Tensor> leaves = new java.util.HashMap<>();
                for (var e : c.t().entrySet()) {
                    Tensor v = e.getValue().to(dtype);
                    leaves.put(e.getKey(), LEAVES.contains(e.getKey()) ? v.copy().requiresGrad(true) : v.copy());
                }
                String what = op + " #" + c.index() + " " + c.p() + " " + dtype;
                Tensor out = apply(op, c, leaves);
                assertClose(what + " output", out, c.get("out"), atol, rtol);
                out.backward(c.get("gout").to(dtype));
                for (String name : LEAVES) {
                    if (!c.t().containsKey("g" + name)) continue;
                    assertClose(what + " d/d" + name, leaves.get(name).grad(), c.get("g" + name), atol * 10, rtol * 10);
                }
                if (op.equals("batch_norm")) {
                    assertClose(what + " running mean", leaves.get("running_mean"), c.get("running_mean_after"), atol, rtol);
                    assertClose(what + " running var", leaves.get("running_var"), c.get("running_var_after"), atol, rtol);
                }
            }
        }
        assertEquals(configs.size(), configs.stream().mapToInt(Config::index).distinct().count());
    }
}
