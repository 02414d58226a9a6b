package io.featurefuse.nn.train;

import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a weights file saved by fuse train records of how it was made (the checkpoint metadata
 * Trainer writes: the model's spec, and train_data, see Dataset.fingerprint), read back to say
 * why the file does not fit the model it is being loaded into.
 */
public final class TrainedWith {
    private TrainedWith() {}

    /** train_data's opening: "N images CxHxW in K classes". */
    private static final Pattern DATA = Pattern.compile("^\\d+ images (\\d+)x\\d+x\\d+ in (\\d+) classes");

    /**
     * Where the record differs from what the file is loaded for, a clause saying so, e.g. " (fuse
     * train saved it from a vgg:8,16 trained on 3-channel images in 3 classes; the data here has
     * 1-channel images in 10 classes)"; else "", also for files without the record (PyTorch's, older
     * ones). classes below 0: the class count does not matter (a backbone without its head).
     */
    public static String misfit(Map<String, String> meta, String spec, int channels, int classes) {
        String model = meta.get("model"), data = meta.get("train_data");
        Matcher m = data == null ? null : DATA.matcher(data);
        boolean known = m != null && m.find();
        int trainedChannels = known ? Integer.parseInt(m.group(1)) : channels, trainedClasses = known ? Integer.parseInt(m.group(2)) : classes;
        boolean otherModel = model != null && !model.equals(spec);
        boolean otherChannels = trainedChannels != channels, otherClasses = classes >= 0 && trainedClasses != classes;
        if (!otherModel && !otherChannels && !otherClasses) return "";
        String trained = otherChannels || otherClasses ? " trained on " + images(trainedChannels, classes >= 0 ? trainedClasses : -1)
                + "; the data here has " + images(channels, classes) : "";
        return " (fuse train saved it from " + (otherModel ? "a " + model : "this model") + trained + ")";
    }

    private static String images(int channels, int classes) {
        return channels + "-channel images" + (classes >= 0 ? " in " + classes + " classes" : "");
    }
}
