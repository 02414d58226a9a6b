package io.featurefuse.fusion;

/** The shape of one image's feature map: channels, height, width. */
public record MapShape(int c, int h, int w) {
    public MapShape {
        if (c <= 0 || h <= 0 || w <= 0) throw new IllegalArgumentException("feature map shape " + c + "x" + h + "x" + w + " is not valid");
    }

    @Override
    public String toString() {
        return c + "x" + h + "x" + w;
    }
}
