package io.featurefuse.nn.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The CIFAR-10 and CIFAR-100 binary versions: records of a label byte (CIFAR-100: coarse then
 * fine label bytes; the fine label is used) and 3072 pixel bytes, 3 x 32 x 32, channel planes.
 * CIFAR-10 is data_batch_1..5.bin + test_batch.bin; CIFAR-100 is train.bin + test.bin.
 */
public final class Cifar {
    private static final int IMAGE = 3 * 32 * 32;

    private Cifar() {}

    public static boolean looksLikeCifar(Path dir) {
        return Files.isRegularFile(dir.resolve("test_batch.bin")) || Files.isRegularFile(dir.resolve("test.bin"));
    }

    public static Dataset loadFolder(Path dir, boolean train) throws IOException {
        boolean c100 = Files.isRegularFile(dir.resolve("test.bin"));
        List<Path> files = new ArrayList<>();
        if (c100) files.add(dir.resolve(train ? "train.bin" : "test.bin"));
        else if (train) for (int i = 1; i <= 5; i++) files.add(dir.resolve("data_batch_" + i + ".bin"));
        else files.add(dir.resolve("test_batch.bin"));
        int labelBytes = c100 ? 2 : 1, record = labelBytes + IMAGE, classes = c100 ? 100 : 10;
        List<String> names = classNames(dir, c100 ? "fine_label_names.txt" : "batches.meta.txt", classes);
        java.io.ByteArrayOutputStream px = new java.io.ByteArrayOutputStream();
        List<Integer> labels = new ArrayList<>();
        for (Path f : files) {
            if (!Files.isRegularFile(f)) throw new IOException(dir + " looks like CIFAR-" + classes + " but has no " + f.getFileName());
            byte[] raw = Files.readAllBytes(f);
            if (raw.length == 0 || raw.length % record != 0)
                throw new IOException(f + ": not a valid CIFAR-" + classes + " file: " + raw.length + " bytes is not a whole number of " + record + "-byte records");
            for (int at = 0; at < raw.length; at += record) {
                int y = raw[at + labelBytes - 1] & 0xFF;
                if (y >= classes) throw new IOException(f + ": not a valid CIFAR-" + classes + " file: label " + y + " in record " + at / record);
                labels.add(y);
                px.write(raw, at + labelBytes, IMAGE);
            }
        }
        return new Dataset(dir.getFileName() + (train ? " (train)" : " (test)"), px.toByteArray(),
                labels.stream().mapToInt(Integer::intValue).toArray(), 3, 32, 32, names);
    }

    private static List<String> classNames(Path dir, String file, int classes) throws IOException {
        Path p = dir.resolve(file);
        List<String> names = new ArrayList<>();
        if (Files.isRegularFile(p)) for (String line : Files.readAllLines(p)) if (!line.isBlank()) names.add(line.strip());
        if (names.size() != classes) {
            names.clear();
            for (int i = 0; i < classes; i++) names.add(Integer.toString(i));
        }
        return names;
    }
}
