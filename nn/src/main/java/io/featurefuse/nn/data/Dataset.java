package io.featurefuse.nn.data;

import java.util.List;

/**
 * Labelled images held as unsigned bytes, N x C x H x W (a 60,000-image Fashion-MNIST is 47 MB;
 * floats are made per batch by the loader). Labels lie in [0, classes.size()).
 */
public record Dataset(String name, byte[] pixels, int[] labels, int channels, int height, int width, List<String> classes) {
    public Dataset {
        classes = List.copyOf(classes);
        long per = (long) channels * height * width;
        if (channels <= 0 || height <= 0 || width <= 0) throw new IllegalArgumentException(name + ": image size " + channels + "x" + height + "x" + width + " is not valid");
        if (pixels.length != per * labels.length)
            throw new IllegalArgumentException(name + ": " + pixels.length + " pixel bytes do not make " + labels.length + " images of " + channels + "x" + height + "x" + width);
        for (int i = 0; i < labels.length; i++)
            if (labels[i] < 0 || labels[i] >= classes.size())
                throw new IllegalArgumentException(name + ": label " + labels[i] + " of image " + i + " is outside the " + classes.size() + " classes");
    }

    public int size() {
        return labels.length;
    }

    public int imageBytes() {
        return channels * height * width;
    }

    /** The first n images (all when n >= size). */
    public Dataset head(int n) {
        if (n >= size()) return this;
        byte[] p = java.util.Arrays.copyOf(pixels, n * imageBytes());
        return new Dataset(name, p, java.util.Arrays.copyOf(labels, n), channels, height, width, classes);
    }

    /**
     * What a checkpoint records of the data it was trained on, so that resuming on other data (another
     * folder, another --limit) is refused: the count, the image size and a CRC-32C of labels and pixels.
     */
    public String fingerprint() {
        var crc = new java.util.zip.CRC32C();
        var labelBytes = java.nio.ByteBuffer.allocate(4 * labels.length);
        labelBytes.asIntBuffer().put(labels);
        crc.update(labelBytes);
        crc.update(pixels);
        return String.format(java.util.Locale.ROOT, "%d images %dx%dx%d in %d classes, crc32c %08x", size(), channels, height, width, classes.size(),
                crc.getValue());
    }

    /** Per-channel mean and standard deviation of the pixels scaled to [0, 1]. */
    public double[][] channelStats() {
        double[] sum = new double[channels], sq = new double[channels];
        int plane = height * width;
        for (int i = 0; i < pixels.length; i++) {
            int c = (i / plane) % channels;
            double v = (pixels[i] & 0xFF) / 255.0;
            sum[c] += v;
            sq[c] += v * v;
        }
        double count = (double) size() * plane;
        double[] mean = new double[channels], std = new double[channels];
        for (int c = 0; c < channels; c++) {
            mean[c] = sum[c] / count;
            std[c] = Math.sqrt(Math.max(0, sq[c] / count - mean[c] * mean[c]));
        }
        return new double[][] {mean, std};
    }
}
