package io.featurefuse.fusion.strategies;

import io.featurefuse.engine.Tensor;
import io.featurefuse.fusion.Fusion;
import io.featurefuse.nn.layers.Linear;
import java.util.random.RandomGenerator;

/**
 * FiLM (Perez et al. 2018): B, pooled to a vector, produces a per-channel scale and shift for A:
 * y = a (1 + gamma(b)) + beta(b). Needs no spatial alignment and no common channel count.
 */
public final class Film extends Fusion {
    private final Linear film;
    private final int ca;

    public Film(int ca, int cb, RandomGenerator rng) {
        super(Needs.NOTHING);
        this.ca = ca;
        film = child("film", new Linear(cb, 2 * ca, true, rng));
    }

    @Override
    public Tensor fuse(Tensor a, Tensor b) {
        Tensor p = film.call(b.adaptiveAvgPool2d(1, 1).flatten(1, -1)); // [N, 2 Ca]
        int n = a.size(0);
        Tensor gamma = p.narrow(1, 0, ca).reshape(n, ca, 1, 1), beta = p.narrow(1, ca, ca).reshape(n, ca, 1, 1);
        return a.mul(gamma.add(1)).add(beta);
    }

    @Override
    public String toString() { return "film"; }
}
