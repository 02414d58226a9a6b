package io.featurefuse.nn.data;

import io.featurefuse.engine.Tensor;

/** One mini-batch: normalised images [B, C, H, W] (float32) and their labels; index is its place in the epoch. */
public record Batch(int index, Tensor images, int[] labels) {}
