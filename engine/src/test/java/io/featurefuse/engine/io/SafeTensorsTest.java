package io.featurefuse.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.engine.DType;
import io.featurefuse.engine.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** safetensors round trips, and every way a truncated or hostile file is refused with a clear message. */
class SafeTensorsTest {
    @TempDir
    Path dir;

    @Test
    void roundTripKeepsNamesOrderDtypesValuesAndMetadata() throws IOException {
        Map<String, Tensor> t = new LinkedHashMap<>();
        t.put("body.0.weight", Tensor.of(new float[] {1.5f, -2, 3, 4, 5, 6}, 2, 3));
        t.put("fc.bias", Tensor.of(new double[] {Math.PI}, 1));
        t.put("scalar", Tensor.scalar(7));
        Path f = dir.resolve("m.safetensors");
        SafeTensors.write(f, t, Map.of("epoch", "3", "note", "quote \" and \\ ok"));
        SafeTensors.Contents c = SafeTensors.read(f);
        assertEquals(java.util.List.of("body.0.weight", "fc.bias", "scalar"), java.util.List.copyOf(c.tensors().keySet()));
        assertEquals(DType.F32, c.tensors().get("body.0.weight").dtype());
        assertEquals(DType.F64, c.tensors().get("fc.bias").dtype());
        assertArrayEquals(t.get("body.0.weight").toArray(), c.tensors().get("body.0.weight").toArray());
        assertEquals(Math.PI, c.tensors().get("fc.bias").item());
        assertEquals(0, c.tensors().get("scalar").rank());
        assertEquals("quote \" and \\ ok", c.metadata().get("note"));
        assertEquals(0, (Files.size(f) - 8 - ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN).getLong(0)) % 4);
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temp file is left behind");
        }
    }

    static Path file(Path dir, String header, int dataBytes) throws IOException {
        return file(dir, header.getBytes(StandardCharsets.UTF_8), dataBytes);
    }

    /** A file of the header's bytes as they are (8-byte length first) and dataBytes zero bytes of data. */
    static Path file(Path dir, byte[] h, int dataBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path f = Files.createTempFile(dir, "bad", ".safetensors");
        Files.write(f, b.array());
        return f;
    }

    static String message(Path f) {
        return assertThrows(IOException.class, () -> SafeTensors.read(f)).getMessage();
    }

    @Test
    void badFilesAreRefusedWithOneClearSentence() throws IOException {
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        assertTrue(message(tiny).endsWith("not a valid safetensors file: it is truncated: 3 bytes, but a safetensors file starts with an 8-byte header length"));
        String ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        assertTrue(message(file(dir, ok, 4)).contains("claims bytes 0..8 but the data holds 4 (truncated file?)"));
        assertTrue(message(file(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8)).contains("needs 12 bytes but its range holds 8"));
        assertTrue(message(file(dir, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4)).contains("has dtype BF16"));
        assertTrue(message(file(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8)).contains("invalid shape"));
        assertTrue(message(file(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8))
                .endsWith("not a valid safetensors file: tensor 'a' has data_offsets [8, 0], whose end is before its start"));
        // a key with a byte that is not UTF-8 (0xFF): refused, not read as a name with a replacement character
        byte[] latin = "{\"a\u00ff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}".getBytes(StandardCharsets.ISO_8859_1);
        assertTrue(message(file(dir, latin, 8)).endsWith("not a valid safetensors file: its header is not valid UTF-8"));
        assertTrue(message(file(dir, "{\"a\":", 0)).contains("header is not valid JSON"));
        assertTrue(message(file(dir, "[1,2]", 0)).contains("header is not a JSON object"));
        assertTrue(message(file(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4)).contains("overlap"));
        Path huge = dir.resolve("huge.safetensors");
        Files.write(huge, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE).array());
        assertTrue(message(huge).contains("header length 9223372036854775807 is not plausible"));
    }

    @Test
    void aFailedWriteLeavesTheOldFileIntact() throws IOException {
        Path f = dir.resolve("keep.safetensors");
        SafeTensors.write(f, Map.of("a", Tensor.ones(2)), Map.of());
        byte[] before = Files.readAllBytes(f);
        Map<String, Tensor> broken = new LinkedHashMap<>();
        broken.put("a", Tensor.ones(2));
        broken.put("b", null); // fails part-way through
        assertThrows(NullPointerException.class, () -> SafeTensors.write(f, broken, Map.of()));
        assertArrayEquals(before, Files.readAllBytes(f));
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count());
        }
    }

    @Test
    void jsonIsStrict() {
        assertEquals(Map.of("a", java.util.List.of(1L, 2.5, "x", true)), Json.parse("{\"a\": [1, 2.5, \"x\", true]}"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\":1,\"a\":2}"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\":1} x"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("[".repeat(100) + "]".repeat(100)));
    }
}
