package io.featurefuse.cli;

import io.featurefuse.nn.data.Cifar;
import io.featurefuse.nn.data.Dataset;
import io.featurefuse.nn.data.Idx;
import io.featurefuse.nn.data.ImageFolder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What --data names: a folder of MNIST-family IDX files (raw or .gz), a CIFAR-10/100 binary
 * folder, or an image folder with train/ and test/ sub-folders of class folders. Without --data,
 * the Fashion-MNIST subset that ships in the repository. Fashion-MNIST (the subset, or any folder
 * whose name says fashion) is normalised with the reference's mean 0.2860 and std 0.3530; other
 * data with its training split's per-channel statistics.
 */
record DataSource(Dataset train, Dataset test, double[] mean, double[] std) {
    static final double[] FASHION_MEAN = {0.2860}, FASHION_STD = {0.3530};

    static Path defaultFolder() {
        return Path.of(System.getProperty("featurefuse.home", "."), "data", "fashion-mnist");
    }

    static DataSource open(String dataOption, String command) throws IOException {
        Path dir = dataOption == null ? defaultFolder() : Path.of(dataOption);
        if (!Files.exists(dir)) throw new UsageException(command + ": --data " + dir + " does not exist");
        if (!Files.isDirectory(dir)) throw new UsageException(command + ": --data " + dir + " is a file, not a folder");
        Dataset train, test;
        boolean fashion = dataOption == null || dir.toAbsolutePath().toString().toLowerCase().contains("fashion");
        if (hasIdx(dir)) {
            var classes = fashion ? Idx.FASHION_CLASSES : java.util.List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");
            train = Idx.loadFolder(dir, true, classes);
            test = Idx.loadFolder(dir, false, classes);
        } else if (Cifar.looksLikeCifar(dir)) {
            fashion = false;
            train = Cifar.loadFolder(dir, true);
            test = Cifar.loadFolder(dir, false);
        } else if (Files.isDirectory(dir.resolve("train")) && Files.isDirectory(dir.resolve("test"))) {
            fashion = false;
            train = ImageFolder.load(dir.resolve("train"));
            test = ImageFolder.load(dir.resolve("test"));
            if (!train.classes().equals(test.classes()))
                throw new IOException(dir + ": train/ has classes " + train.classes() + " but test/ has " + test.classes());
        } else {
            throw new UsageException(command + ": --data " + dir + " holds no IDX files (train-images-idx3-ubyte[.gz] ...), no CIFAR binary"
                    + " batches and no train/ and test/ image folders");
        }
        if (train.channels() != test.channels() || train.height() != test.height() || train.width() != test.width())
            throw new IOException(dir + ": training images are " + train.channels() + "x" + train.height() + "x" + train.width()
                    + " but test images are " + test.channels() + "x" + test.height() + "x" + test.width());
        if (fashion && train.channels() == 1) return new DataSource(train, test, FASHION_MEAN, FASHION_STD);
        double[][] stats = train.channelStats();
        return new DataSource(train, test, stats[0], stats[1]);
    }

    private static boolean hasIdx(Path dir) {
        for (String f : new String[] {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "train-images.idx3-ubyte"})
            if (Files.isRegularFile(dir.resolve(f))) return true;
        return false;
    }
}
