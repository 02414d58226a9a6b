package io.featurefuse.engine;

/** One convolution as a single argument of the fused ops that hold several (Fused.basicBlock): its weight, bias (may be null) and options, as Tensor.conv2d takes them. */
public record ConvSpec(Tensor weight, Tensor bias, ConvOptions options) {}
