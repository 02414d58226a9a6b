package io.featurefuse.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.featurefuse.nn.train.TrainedWith;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a weights file's record of its training says against the model and data it is loaded for. */
class TrainedWithTest {
    private static final Map<String, String> SAVED = Map.of("model", "vgg:8,16", "lr", "0.05", "train_data",
            "64 images 1x28x28 in 10 classes, crc32c 0a1b2c3d");

    @Test
    void namesOnlyWhatDiffers() {
        assertEquals("", TrainedWith.misfit(SAVED, "vgg:8,16", 1, 10));
        assertEquals(" (fuse train saved it from a vgg:8,16)", TrainedWith.misfit(SAVED, "vgg:8,32", 1, 10));
        assertEquals(" (fuse train saved it from this model trained on 1-channel images in 10 classes; the data here has 3-channel images in 3 classes)",
                TrainedWith.misfit(SAVED, "vgg:8,16", 3, 3));
        assertEquals(" (fuse train saved it from a vgg:8,16 trained on 1-channel images in 10 classes; the data here has 1-channel images in 3 classes)",
                TrainedWith.misfit(SAVED, "resnet_a", 1, 3));
    }

    @Test
    void readsTheRecordDatasetWrites() {
        var rgb = new io.featurefuse.nn.data.Dataset("rgb", new byte[2 * 3 * 4 * 5], new int[2], 3, 4, 5, java.util.List.of("a", "b", "c"));
        Map<String, String> saved = Map.of("model", "vgg:8,16", "train_data", rgb.fingerprint());
        assertEquals("", TrainedWith.misfit(saved, "vgg:8,16", 3, 3));
        assertEquals(" (fuse train saved it from this model trained on 3-channel images in 3 classes; the data here has 1-channel images in 10 classes)",
                TrainedWith.misfit(saved, "vgg:8,16", 1, 10));
    }

    @Test
    void aBackboneIgnoresTheClassCount() {
        assertEquals("", TrainedWith.misfit(SAVED, "vgg:8,16", 1, -1));
        assertEquals(" (fuse train saved it from this model trained on 1-channel images; the data here has 3-channel images)",
                TrainedWith.misfit(SAVED, "vgg:8,16", 3, -1));
    }

    @Test
    void filesWithoutTheRecordSayNothing() {
        assertEquals("", TrainedWith.misfit(Map.of(), "vgg:8,16", 3, 3), "PyTorch's files");
        assertEquals(" (fuse train saved it from a vgg:8,16)", TrainedWith.misfit(Map.of("model", "vgg:8,16"), "vgg:8,32", 3, 3),
                "a file from before train_data was recorded");
        assertEquals("", TrainedWith.misfit(Map.of("train_data", "not a record"), "vgg:8,16", 3, 3));
    }
}
