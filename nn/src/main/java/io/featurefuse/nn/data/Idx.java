package io.featurefuse.nn.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * The IDX format of the MNIST family (big-endian magic 0x0000 08 R: unsigned bytes, R dims, then
 * R big-endian int32 sizes and the data), raw or gzip-compressed (told apart by the gzip magic).
 */
public final class Idx {
    /** Fashion-MNIST's class names, in label order. */
    public static final List<String> FASHION_CLASSES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");
    private static final long MAX_BYTES = 1L << 31;

    private Idx() {}

    /** The dims and bytes of one IDX file of unsigned bytes. */
    public record Array(int[] dims, byte[] data) {}

    public static Array read(Path file) throws IOException {
        return read(file, 0, null);
    }

    /**
     * As {@link #read(Path)}; a file whose header gives other than {@code rank} dimensions (when
     * rank is above 0) is refused before its sizes are read, as not holding {@code what}: a labels
     * file with an images header would otherwise be refused for the sizes that its labels make.
     */
    private static Array read(Path file, int rank, String what) throws IOException {
        // Streamed into one array of the exact size: a 47 MB image file costs 47 MB, not the
        // several copies that reading it whole and then decompressing would.
        try (InputStream in = open(file)) {
            byte[] head = in.readNBytes(4);
            if (head.length < 4) throw bad(file, "it is truncated: " + head.length + " bytes, but an IDX header needs 4");
            if (head[0] != 0 || head[1] != 0) throw bad(file, String.format("its magic number 0x%02x%02x%02x%02x does not start with two zero bytes", head[0], head[1], head[2], head[3]));
            if (head[2] != 0x08) throw bad(file, String.format("its data type 0x%02x is not unsigned byte (0x08)", head[2]));
            int dimensions = head[3] & 0xFF;
            if (dimensions < 1 || dimensions > 4) throw bad(file, "it claims " + dimensions + " dimensions");
            if (rank > 0 && dimensions != rank) throw bad(file, "it holds " + dimensions + "-d data, not " + what);
            byte[] sizes = in.readNBytes(4 * dimensions);
            if (sizes.length < 4 * dimensions) throw bad(file, "it is truncated inside its " + dimensions + " dimension sizes");
            int[] dims = new int[dimensions];
            long count = 1;
            for (int i = 0; i < dimensions; i++) {
                int at = 4 * i;
                long d = ((sizes[at] & 0xFFL) << 24) | ((sizes[at + 1] & 0xFF) << 16) | ((sizes[at + 2] & 0xFF) << 8) | (sizes[at + 3] & 0xFF);
                if (d <= 0 || d > Integer.MAX_VALUE) throw bad(file, "dimension " + i + " has size " + d);
                dims[i] = (int) d;
                count *= d;
                if (count > MAX_BYTES) throw bad(file, "it claims more than 2 GB of data");
            }
            byte[] data = in.readNBytes((int) count);
            if (data.length < count) throw bad(file, "it is truncated: the header promises " + count + " data bytes but " + data.length + " follow");
            long extra = 0;
            for (byte[] buf = new byte[1 << 16]; ; ) {
                int n = in.read(buf);
                if (n < 0) break;
                extra += n;
            }
            if (extra > 0) throw bad(file, "it has " + extra + " bytes after the " + count + " its header promises");
            return new Array(dims, data);
        } catch (java.io.EOFException | java.util.zip.ZipException e) {
            throw bad(file, "its gzip stream is damaged or truncated (" + e.getMessage() + ")");
        }
    }

    /** A data set from an images file [N, H, W] and a labels file [N]. */
    public static Dataset load(String name, Path images, Path labels, List<String> classes) throws IOException {
        Array im = read(images, 3, "images [N, H, W]"), lb = read(labels, 1, "labels [N]");
        if (im.dims()[0] != lb.dims()[0])
            throw new IOException(images + " holds " + im.dims()[0] + " images but " + labels + " holds " + lb.dims()[0] + " labels");
        int[] y = new int[lb.data().length];
        for (int i = 0; i < y.length; i++) {
            y[i] = lb.data()[i] & 0xFF;
            if (y[i] >= classes.size()) throw bad(labels, "label " + y[i] + " of item " + i + " is outside the " + classes.size() + " classes");
        }
        return new Dataset(name, im.data(), y, 1, im.dims()[1], im.dims()[2], classes);
    }

    /**
     * The train or test split of an MNIST-family folder: {@code train-images-idx3-ubyte} and
     * {@code train-labels-idx1-ubyte} (or {@code t10k-...}), each raw or with {@code .gz}.
     */
    public static Dataset loadFolder(Path dir, boolean train, List<String> classes) throws IOException {
        String split = train ? "train" : "t10k";
        Path images = find(dir, split + "-images-idx3-ubyte"), labels = find(dir, split + "-labels-idx1-ubyte");
        return load(dir.getFileName() + (train ? " (train)" : " (test)"), images, labels, classes);
    }

    private static Path find(Path dir, String base) throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException(dir + " is not a folder");
        List<Path> tried = new ArrayList<>();
        for (String name : new String[] {base + ".gz", base, base.replace("-idx", ".idx")}) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) return p;
            tried.add(p.getFileName());
        }
        throw new IOException(dir + " has no " + base + "[.gz] file (looked for " + tried + ")");
    }

    /** The file's bytes, decompressed on the fly when it starts with the gzip magic. */
    private static InputStream open(Path file) throws IOException {
        InputStream raw = new java.io.BufferedInputStream(Files.newInputStream(file), 1 << 16);
        raw.mark(2);
        int b0 = raw.read(), b1 = raw.read();
        raw.reset();
        return b0 == 0x1f && b1 == 0x8b ? new GZIPInputStream(raw, 1 << 16) : raw;
    }

    private static IOException bad(Path file, String what) {
        return new IOException(file + ": not a valid IDX file: " + what);
    }
}
