package io.featurefuse.engine.io;

import io.featurefuse.engine.DType;
import io.featurefuse.engine.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (as written by {@code safetensors.torch.save_file}): an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
 * then the raw little-endian data. Reading validates everything a truncated or hostile file
 * could get wrong and names the file and the problem in one sentence; writing is atomic (temp
 * file, fsync, rename), so an existing file is never left half-written.
 *
 * <p>F32 and F64 are read into tensors of that dtype; I64 (e.g. num_batches_tracked) is read
 * into float64, exact up to 2^53. F32 and F64 are written, and I64 for the names a caller marks
 * as integers (PyTorch keeps num_batches_tracked as int64).
 */
public final class SafeTensors {
    private static final long MAX_HEADER = 100L << 20;

    private SafeTensors() {}

    /** The tensors (in file order) and the optional string metadata of a file. */
    public record Contents(Map<String, Tensor> tensors, Map<String, String> metadata) {}

    public static Contents read(Path file) throws IOException {
        long size = Files.size(file);
        if (size < 8) throw bad(file, "it is truncated: " + size + " bytes, but a safetensors file starts with an 8-byte header length");
        if (size > Integer.MAX_VALUE - 16) throw bad(file, "it is larger than 2 GB, which this reader does not support");
        ByteBuffer all = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        long n = all.getLong(0);
        if (n < 2 || n > MAX_HEADER) throw bad(file, "its header length " + Long.toUnsignedString(n) + " is not plausible");
        if (8 + n > size) throw bad(file, "it is truncated: the header needs " + n + " bytes but only " + (size - 8) + " follow");
        String headerText;
        try { // strictly: a header that is not UTF-8 is refused, not read with replacement characters
            headerText = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(all.array(), 8, (int) n)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw bad(file, "its header is not valid UTF-8");
        }
        Object parsed;
        try {
            parsed = Json.parse(headerText.strip());
        } catch (IllegalArgumentException e) {
            throw bad(file, "its header is not valid JSON (" + e.getMessage() + ")");
        }
        if (!(parsed instanceof Map<?, ?> header)) throw bad(file, "its header is not a JSON object");
        int dataStart = (int) (8 + n);
        long dataLen = size - dataStart;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        List<long[]> ranges = new ArrayList<>();
        for (Map.Entry<?, ?> e : header.entrySet()) {
            String name = (String) e.getKey();
            if (name.equals("__metadata__")) {
                if (!(e.getValue() instanceof Map<?, ?> meta)) throw bad(file, "its __metadata__ is not an object");
                for (Map.Entry<?, ?> m : meta.entrySet()) {
                    if (!(m.getValue() instanceof String v)) throw bad(file, "metadata '" + m.getKey() + "' is not a string");
                    metadata.put((String) m.getKey(), v);
                }
                continue;
            }
            if (!(e.getValue() instanceof Map<?, ?> info)) throw bad(file, "entry '" + name + "' is not an object");
            String dtype = info.get("dtype") instanceof String d ? d : null;
            int item = switch (dtype == null ? "" : dtype) {
                case "F32" -> 4;
                case "F64", "I64" -> 8;
                default -> throw bad(file, "tensor '" + name + "' has dtype " + dtype + "; F32, F64 and I64 are supported");
            };
            int[] shape = longs(file, name, "shape", info.get("shape"), -1);
            int[] dims = new int[shape.length];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                dims[i] = shape[i];
                numel *= shape[i];
                if (numel > Integer.MAX_VALUE - 16) throw bad(file, "tensor '" + name + "' is too large");
            }
            int[] offsets = longs(file, name, "data_offsets", info.get("data_offsets"), 2);
            long begin = offsets[0], end = offsets[1];
            if (end < begin) throw bad(file, "tensor '" + name + "' has data_offsets [" + begin + ", " + end + "], whose end is before its start");
            if (end > dataLen)
                throw bad(file, "tensor '" + name + "' claims bytes " + begin + ".." + end + " but the data holds " + dataLen
                        + " (truncated file?)");
            if (end - begin != numel * item)
                throw bad(file, "tensor '" + name + "' of shape " + java.util.Arrays.toString(dims) + " and dtype " + dtype + " needs "
                        + numel * item + " bytes but its range holds " + (end - begin));
            ranges.add(new long[] {begin, end});
            int at = (int) (dataStart + begin);
            Tensor t;
            if (dtype.equals("F32")) {
                float[] v = new float[(int) numel];
                all.slice(at, (int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
                t = Tensor.of(v, dims);
            } else if (dtype.equals("F64")) {
                double[] v = new double[(int) numel];
                all.slice(at, (int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().get(v);
                t = Tensor.of(v, dims);
            } else {
                long[] v = new long[(int) numel];
                all.slice(at, (int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(v);
                double[] d = new double[v.length];
                for (int i = 0; i < v.length; i++) d[i] = v[i];
                t = Tensor.of(d, dims);
            }
            tensors.put(name, t);
        }
        ranges.sort((a, b) -> Long.compare(a[0], b[0]));
        for (int i = 1; i < ranges.size(); i++)
            if (ranges.get(i)[0] < ranges.get(i - 1)[1]) throw bad(file, "two tensors' byte ranges overlap");
        return new Contents(tensors, metadata);
    }

    private static int[] longs(Path file, String name, String key, Object v, int expected) throws IOException {
        if (!(v instanceof List<?> list) || (expected >= 0 && list.size() != expected))
            throw bad(file, "tensor '" + name + "' has no valid " + key);
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Long l) || l < 0 || l > Integer.MAX_VALUE)
                throw bad(file, "tensor '" + name + "' has an invalid " + key + " entry " + list.get(i));
            out[i] = (int) (long) l;
        }
        return out;
    }

    private static IOException bad(Path file, String what) {
        return new IOException(file + ": not a valid safetensors file: " + what);
    }

    /** Writes tensors (F32 or F64) and metadata to file atomically: a temp file beside it, fsync, rename. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        write(file, tensors, metadata, java.util.Set.of());
    }

    /** As {@link #write(Path, Map, Map)}, with the tensors named in int64 written as I64 (their values must be integers). */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata, java.util.Set<String> int64) throws IOException {
        for (String k : int64) {
            Tensor t = tensors.get(k);
            if (t != null) for (double v : t.toArray())
                if (v != Math.rint(v) || Math.abs(v) > 0x1p53) throw new IllegalArgumentException("safetensors: '" + k + "' holds " + v + ", not an integer, so it cannot be written as I64");
        }
        StringBuilder h = new StringBuilder("{");
        if (metadata != null && !metadata.isEmpty()) {
            h.append("\"__metadata__\":{");
            boolean first = true;
            for (Map.Entry<String, String> m : metadata.entrySet()) {
                if (!first) h.append(',');
                first = false;
                h.append(Json.quote(m.getKey())).append(':').append(Json.quote(m.getValue()));
            }
            h.append('}');
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            long bytes = (long) t.numel() * (t.dtype() == DType.F32 && !int64.contains(e.getKey()) ? 4 : 8);
            String code = int64.contains(e.getKey()) ? "I64" : t.dtype() == DType.F32 ? "F32" : "F64";
            if (h.length() > 1) h.append(',');
            h.append(Json.quote(e.getKey())).append(":{\"dtype\":\"").append(code)
                    .append("\",\"shape\":").append(java.util.Arrays.toString(t.shape().toArray()).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        h.append('}');
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        int pad = (8 - header.length % 8) % 8; // keep the data 8-byte aligned, as the reference writer does
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
        try {
            // createTempFile makes it private (rw-------); a saved model is an ordinary file
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: keep its default
        }
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length + pad).flip();
                writeFully(ch, len);
                ByteBuffer hb = ByteBuffer.allocate(header.length + pad);
                hb.put(header);
                while (hb.hasRemaining()) hb.put((byte) ' ');
                writeFully(ch, hb.flip());
                for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                    Tensor t = e.getValue();
                    boolean asLong = int64.contains(e.getKey());
                    ByteBuffer b = ByteBuffer.allocate(t.numel() * (t.dtype() == DType.F32 && !asLong ? 4 : 8)).order(ByteOrder.LITTLE_ENDIAN);
                    if (asLong) { for (double v : t.toArray()) b.putLong((long) v); b.flip(); }
                    else if (t.dtype() == DType.F32) b.asFloatBuffer().put(t.toFloatArray());
                    else b.asDoubleBuffer().put(t.toArray());
                    writeFully(ch, b);
                }
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
