package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.layers.Activation;
import io.featurefuse.nn.layers.BatchNorm2d;
import io.featurefuse.nn.layers.Conv2d;
import io.featurefuse.nn.layers.Sequential;
import java.util.random.RandomGenerator;

/**
 * The multi-scale channel attention module of AFF (Dai et al., WACV 2021, eq. 2-4):
 * M(X) = sigmoid(L(X) + G(X)), L a point-wise bottleneck (1x1 conv C -> C/r, BN, ReLU,
 * 1x1 conv -> C, BN) on every position, G the same bottleneck on the global average; G's
 * [N, C, 1, 1] broadcasts over L's positions.
 */
final class MsCam extends Module {
    private final Sequential local, global;

    MsCam(int channels, int r, RandomGenerator rng) {
        local = child("local", bottleneck(channels, r, rng));
        global = child("global", bottleneck(channels, r, rng));
    }

    private static Sequential bottleneck(int c, int r, RandomGenerator rng) {
        int hidden = Math.max(1, c / r);
        return new Sequential(new Conv2d(c, hidden, 1, 1, 0, false, rng), new BatchNorm2d(hidden), Activation.relu(),
                new Conv2d(hidden, c, 1, 1, 0, false, rng), new BatchNorm2d(c));
    }

    @Override
    public Tensor forward(Tensor x) {
        return local.call(x).add(global.call(x.adaptiveAvgPool2d(1, 1))).sigmoid();
    }
}
