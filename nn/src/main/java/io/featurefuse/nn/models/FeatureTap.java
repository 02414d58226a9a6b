package io.featurefuse.nn.models;

/** A named point in a backbone whose output can be read: its channels and its stride relative to the input. */
public record FeatureTap(String name, int channels, int stride) {
    @Override
    public String toString() {
        return name + " (" + channels + " ch, stride " + stride + ")";
    }
}
