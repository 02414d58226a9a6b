package io.featurefuse.nn.data;

/**
 * Training-time augmentation, as torchvision's RandomCrop(size, padding) and
 * RandomHorizontalFlip(p): each image is zero-padded by {@code cropPadding} pixels, a window of
 * the original size is cut at a random offset, and it is mirrored with probability {@code flipP}.
 */
public record Augment(int cropPadding, double flipP) {
    public static final Augment NONE = new Augment(0, 0);

    public Augment {
        if (cropPadding < 0) throw new IllegalArgumentException("augment: crop padding " + cropPadding + " must be >= 0");
        if (!(flipP >= 0 && flipP <= 1)) throw new IllegalArgumentException("augment: flip probability " + flipP + " must lie in [0, 1]");
    }

    public boolean none() {
        return cropPadding == 0 && flipP == 0;
    }
}
