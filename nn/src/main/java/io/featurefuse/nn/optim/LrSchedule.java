package io.featurefuse.nn.optim;

/**
 * The factor on the base learning rate before optimizer step t (0-based), as PyTorch's
 * schedulers stepped once per optimizer step: cosine annealing to 0 over totalSteps, step decay
 * (times gamma every stepSize steps), constant; any of them behind a linear warm-up.
 */
@FunctionalInterface
public interface LrSchedule {
    double factor(long step);

    static LrSchedule constant() {
        return t -> 1;
    }

    /** CosineAnnealingLR(T_max = totalSteps, eta_min = 0). */
    static LrSchedule cosine(long totalSteps) {
        if (totalSteps <= 0) throw new IllegalArgumentException("cosine schedule needs a positive step count, not " + totalSteps);
        return t -> 0.5 * (1 + Math.cos(Math.PI * Math.min(t, totalSteps) / totalSteps));
    }

    /** StepLR(step_size, gamma), counted in optimizer steps. */
    static LrSchedule step(long stepSize, double gamma) {
        if (stepSize <= 0) throw new IllegalArgumentException("step schedule needs a positive step size, not " + stepSize);
        return t -> Math.pow(gamma, t / stepSize);
    }

    /** This schedule scaled by a linear ramp from 1/warmup to 1 over the first warmup steps. */
    default LrSchedule withWarmup(long warmup) {
        if (warmup <= 0) return this;
        return t -> factor(t) * Math.min(1.0, (t + 1) / (double) warmup);
    }
}
