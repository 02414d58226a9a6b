package io.featurefuse.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.featurefuse.nn.data.Augment;
import io.featurefuse.nn.data.Batch;
import io.featurefuse.nn.data.Cifar;
import io.featurefuse.nn.data.DataLoader;
import io.featurefuse.nn.data.Dataset;
import io.featurefuse.nn.data.Idx;
import io.featurefuse.nn.data.ImageFolder;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataTest {
    static final Path SUBSET = Path.of("..", "data", "fashion-mnist");

    @Test
    void theShippedSubsetIsTenThousandAndTwoThousandFashionImages() throws IOException {
        Dataset train = Idx.loadFolder(SUBSET, true, Idx.FASHION_CLASSES), test = Idx.loadFolder(SUBSET, false, Idx.FASHION_CLASSES);
        assertEquals(10_000, train.size());
        assertEquals(2_000, test.size());
        assertEquals(28, train.height());
        int[] counts = new int[10];
        for (int y : train.labels()) counts[y]++;
        for (int c : counts) assertTrue(c > 800 && c < 1200, Arrays.toString(counts)); // roughly balanced, as the full set
        double[][] stats = train.channelStats();
        assertEquals(0.2860, stats[0][0], 0.005); // the preset normalisation comes from the full set
        assertEquals(0.3530, stats[1][0], 0.005);
    }

    static void idx(Path f, int magic, int[] dims, byte[] data, boolean gzip) throws IOException {
        try (OutputStream raw = Files.newOutputStream(f); OutputStream out = gzip ? new GZIPOutputStream(raw) : raw) {
            out.write(new byte[] {0, 0, (byte) (magic >> 8), (byte) magic});
            for (int d : dims) out.write(new byte[] {(byte) (d >>> 24), (byte) (d >>> 16), (byte) (d >>> 8), (byte) d});
            out.write(data);
        }
    }

    @Test
    void idxReadsRawAndGzipAndNamesWhatIsWrong(@TempDir Path dir) throws IOException {
        idx(dir.resolve("train-images-idx3-ubyte"), 0x0803, new int[] {2, 2, 3}, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, false);
        idx(dir.resolve("train-labels-idx1-ubyte.gz"), 0x0801, new int[] {2}, new byte[] {3, 9}, true);
        Dataset d = Idx.loadFolder(dir, true, Idx.FASHION_CLASSES);
        assertArrayEquals(new int[] {3, 9}, d.labels());
        assertEquals(12, d.pixels()[11]);

        Path bad = dir.resolve("bad");
        idx(bad, 0x0903, new int[] {1}, new byte[] {1}, false);
        assertEquals(bad + ": not a valid IDX file: its data type 0x09 is not unsigned byte (0x08)",
                assertThrows(IOException.class, () -> Idx.read(bad)).getMessage());
        idx(bad, 0x0803, new int[] {2, 2, 3}, new byte[] {1, 2, 3}, false);
        assertEquals(bad + ": not a valid IDX file: it is truncated: the header promises 12 data bytes but 3 follow",
                assertThrows(IOException.class, () -> Idx.read(bad)).getMessage());
        Files.write(bad, new byte[] {0x1f, (byte) 0x8b, 8, 0, 0, 0});
        assertTrue(assertThrows(IOException.class, () -> Idx.read(bad)).getMessage().contains("gzip stream is damaged or truncated"));
        idx(dir.resolve("t10k-images-idx3-ubyte"), 0x0803, new int[] {3, 1, 1}, new byte[] {1, 2, 3}, false);
        idx(dir.resolve("t10k-labels-idx1-ubyte"), 0x0801, new int[] {2}, new byte[] {1, 2}, false);
        assertTrue(assertThrows(IOException.class, () -> Idx.loadFolder(dir, false, Idx.FASHION_CLASSES)).getMessage()
                .endsWith("holds 3 images but " + dir.resolve("t10k-labels-idx1-ubyte") + " holds 2 labels"));
        assertTrue(assertThrows(IOException.class, () -> Idx.loadFolder(dir.resolve("nope"), true, Idx.FASHION_CLASSES)).getMessage().endsWith("is not a folder"));
        // a labels file with an images header: named for that, not for the sizes its labels make
        idx(dir.resolve("t10k-labels-idx1-ubyte"), 0x0803, new int[] {3}, new byte[] {1, 2, 3, (byte) 200, (byte) 200, (byte) 200, (byte) 200, 0, 0}, false);
        assertEquals(dir.resolve("t10k-labels-idx1-ubyte") + ": not a valid IDX file: it holds 3-d data, not labels [N]",
                assertThrows(IOException.class, () -> Idx.loadFolder(dir, false, Idx.FASHION_CLASSES)).getMessage());
    }

    @Test
    void cifarBinaryRecordsAreValidated(@TempDir Path dir) throws IOException {
        byte[] rec = new byte[2 * 3073];
        rec[0] = 7;
        rec[1 + 1024] = 42; // green plane, first pixel
        rec[3073] = 2;
        for (int i = 1; i <= 5; i++) Files.write(dir.resolve("data_batch_" + i + ".bin"), rec);
        Files.write(dir.resolve("test_batch.bin"), Arrays.copyOf(rec, 3073));
        assertTrue(Cifar.looksLikeCifar(dir));
        Dataset train = Cifar.loadFolder(dir, true);
        assertEquals(10, train.size());
        assertEquals(7, train.labels()[0]);
        assertEquals(42, train.pixels()[1024]);
        Files.write(dir.resolve("test_batch.bin"), Arrays.copyOf(rec, 3000));
        assertTrue(assertThrows(IOException.class, () -> Cifar.loadFolder(dir, false)).getMessage().contains("3000 bytes is not a whole number of 3073-byte records"));
    }

    @Test
    void imageFolderReadsClassesFromSubFolders(@TempDir Path dir) throws IOException {
        for (String cls : List.of("cat", "dog")) {
            Files.createDirectories(dir.resolve(cls));
            BufferedImage im = new BufferedImage(4, 3, BufferedImage.TYPE_BYTE_GRAY);
            im.getRaster().setSample(1, 2, 0, cls.equals("cat") ? 200 : 17);
            ImageIO.write(im, "png", dir.resolve(cls).resolve("a.png").toFile());
        }
        Dataset d = ImageFolder.load(dir);
        assertEquals(List.of("cat", "dog"), d.classes());
        assertEquals(1, d.channels());
        assertEquals(200, d.pixels()[2 * 4 + 1] & 0xFF);
        assertEquals(17, d.pixels()[12 + 2 * 4 + 1] & 0xFF);
        ImageIO.write(new BufferedImage(5, 5, BufferedImage.TYPE_INT_RGB), "png", dir.resolve("dog").resolve("b.png").toFile());
        assertTrue(assertThrows(IOException.class, () -> ImageFolder.load(dir)).getMessage().contains("all images must have one size"));
    }

    static Dataset tiny(int n) {
        byte[] px = new byte[n * 4 * 4];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % 3;
            for (int j = 0; j < 16; j++) px[i * 16 + j] = (byte) (i * 16 + j);
        }
        return new Dataset("tiny", px, y, 1, 4, 4, List.of("a", "b", "c"));
    }

    @Test
    void loaderShufflesBySeedNormalisesAndCoversEveryImageOnce() {
        Dataset d = tiny(10);
        DataLoader l = new DataLoader(d, 4, true, 1, new double[] {0.5}, new double[] {0.25}, Augment.NONE);
        assertEquals(3, l.batchesPerEpoch());
        List<Integer> firstPixels = new ArrayList<>();
        try (var it = l.epoch(0)) {
            while (it.hasNext()) {
                Batch b = it.next();
                for (int i = 0; i < b.labels().length; i++) {
                    double v = b.images().get(i, 0, 0, 0) * 0.25 + 0.5; // undo the normalisation
                    int src = (int) Math.round(v * 255) / 16;
                    assertEquals(src % 3, b.labels()[i]);
                    firstPixels.add(src);
                }
            }
        }
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), firstPixels.stream().sorted().toList());
        assertNotEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), firstPixels);
        assertArrayEquals(l.order(3), l.order(3));
        assertNotEquals(Arrays.toString(l.order(3)), Arrays.toString(l.order(4)));
    }

    @Test
    void augmentationIsSeededPerBatchAndPadsWithZeroPixels() {
        Dataset d = tiny(8);
        DataLoader a = new DataLoader(d, 8, false, 5, new double[] {0}, new double[] {1}, new Augment(2, 0.5));
        int[] order = a.order(0);
        assertArrayEquals(a.batch(0, order, 0).images().toArray(), a.batch(0, order, 0).images().toArray());
        assertNotEquals(Arrays.toString(a.batch(0, order, 0).images().toArray()), Arrays.toString(a.batch(1, order, 0).images().toArray()));
        double[] plain = new DataLoader(d, 8, false, 5, new double[] {0}, new double[] {1}, Augment.NONE).batch(0, order, 0).images().toArray();
        double[] aug = a.batch(0, order, 0).images().toArray();
        long zeros = Arrays.stream(aug).filter(v -> v == 0).count(), plainZeros = Arrays.stream(plain).filter(v -> v == 0).count();
        assertTrue(zeros > plainZeros, "shifted crops bring in padding");
    }

    @Test
    void loaderRejectsBadSettings() {
        Dataset d = tiny(4);
        assertThrows(IllegalArgumentException.class, () -> new DataLoader(d, 0, false, 1, new double[] {0}, new double[] {1}, Augment.NONE));
        assertThrows(IllegalArgumentException.class, () -> new DataLoader(d, 2, false, 1, new double[] {0, 0}, new double[] {1, 1}, Augment.NONE));
    }
}
