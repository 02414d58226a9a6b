package io.featurefuse.nn.train;

import io.featurefuse.nn.data.Augment;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A training recipe. The defaults are the reference recipe: SGD momentum 0.9 Nesterov, lr 0.05,
 * weight decay 5e-4, cosine per step, batch 128, 10 epochs, no augmentation, no clipping.
 */
public record TrainConfig(int epochs, int batch, String optimizer, double lr, double momentum, double weightDecay,
                          String schedule, int warmupSteps, double clipNorm, double labelSmoothing, Augment augment, long seed) {
    public TrainConfig {
        if (epochs <= 0) throw new IllegalArgumentException("epochs must be positive, not " + epochs);
        if (batch <= 0) throw new IllegalArgumentException("batch size must be positive, not " + batch);
        if (!(lr > 0)) throw new IllegalArgumentException("learning rate must be positive, not " + lr);
        if (!optimizer.matches("sgd|adam|adamw")) throw new IllegalArgumentException("optimizer '" + optimizer + "' is not one of sgd, adam, adamw");
        if (!schedule.matches("cosine|step|constant")) throw new IllegalArgumentException("schedule '" + schedule + "' is not one of cosine, step, constant");
        if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new IllegalArgumentException("label smoothing must lie in [0, 1), not " + labelSmoothing);
    }

    public static TrainConfig reference() {
        return new TrainConfig(10, 128, "sgd", 0.05, 0.9, 5e-4, "cosine", 0, 0, 0, Augment.NONE, 0);
    }

    public TrainConfig withEpochs(int e) { return new TrainConfig(e, batch, optimizer, lr, momentum, weightDecay, schedule, warmupSteps, clipNorm, labelSmoothing, augment, seed); }
    public TrainConfig withBatch(int b) { return new TrainConfig(epochs, b, optimizer, lr, momentum, weightDecay, schedule, warmupSteps, clipNorm, labelSmoothing, augment, seed); }
    public TrainConfig withLr(double l) { return new TrainConfig(epochs, batch, optimizer, l, momentum, weightDecay, schedule, warmupSteps, clipNorm, labelSmoothing, augment, seed); }
    public TrainConfig withSeed(long s) { return new TrainConfig(epochs, batch, optimizer, lr, momentum, weightDecay, schedule, warmupSteps, clipNorm, labelSmoothing, augment, s); }
    public TrainConfig withOptimizer(String o) { return new TrainConfig(epochs, batch, o, lr, momentum, weightDecay, schedule, warmupSteps, clipNorm, labelSmoothing, augment, seed); }
    public TrainConfig withWeightDecay(double w) { return new TrainConfig(epochs, batch, optimizer, lr, momentum, w, schedule, warmupSteps, clipNorm, labelSmoothing, augment, seed); }
    public TrainConfig withSchedule(String s, int warmup) { return new TrainConfig(epochs, batch, optimizer, lr, momentum, weightDecay, s, warmup, clipNorm, labelSmoothing, augment, seed); }
    public TrainConfig withClipNorm(double c) { return new TrainConfig(epochs, batch, optimizer, lr, momentum, weightDecay, schedule, warmupSteps, c, labelSmoothing, augment, seed); }
    public TrainConfig withLabelSmoothing(double s) { return new TrainConfig(epochs, batch, optimizer, lr, momentum, weightDecay, schedule, warmupSteps, clipNorm, s, augment, seed); }
    public TrainConfig withAugment(Augment a) { return new TrainConfig(epochs, batch, optimizer, lr, momentum, weightDecay, schedule, warmupSteps, clipNorm, labelSmoothing, a, seed); }

    /** The recipe as checkpoint metadata (strings), so a resumed run can check it continues the same one. */
    public Map<String, String> toMetadata() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("epochs", Integer.toString(epochs));
        m.put("batch", Integer.toString(batch));
        m.put("optimizer", optimizer);
        m.put("lr", Double.toString(lr));
        m.put("momentum", Double.toString(momentum));
        m.put("weight_decay", Double.toString(weightDecay));
        m.put("schedule", schedule);
        m.put("warmup_steps", Integer.toString(warmupSteps));
        m.put("clip_norm", Double.toString(clipNorm));
        m.put("label_smoothing", Double.toString(labelSmoothing));
        m.put("augment", String.format(Locale.ROOT, "crop_padding=%d,flip=%s", augment.cropPadding(), augment.flipP()));
        m.put("seed", Long.toString(seed));
        return m;
    }
}
