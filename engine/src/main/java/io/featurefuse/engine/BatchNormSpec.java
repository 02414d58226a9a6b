package io.featurefuse.engine;

/**
 * One batch norm as a single argument of the fused ops that hold two (Fused.batchNormAddRelu): its
 * running mean and var (updated in place while training; may be null while training), its affine
 * weight and bias (either may be null), the mode, momentum and eps, as Tensor.batchNorm takes them.
 */
public record BatchNormSpec(Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias, boolean training, double momentum, double eps) {}
