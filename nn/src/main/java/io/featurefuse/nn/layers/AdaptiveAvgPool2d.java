package io.featurefuse.nn.layers;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.Module;

/** Average pooling to a fixed output size, as torch.nn.AdaptiveAvgPool2d; (1, 1) is global average pooling. */
public final class AdaptiveAvgPool2d extends Module {
    private final int outH, outW;

    public AdaptiveAvgPool2d(int outH, int outW) {
        this.outH = outH;
        this.outW = outW;
    }

    @Override
    public Tensor forward(Tensor x) {
        return x.adaptiveAvgPool2d(outH, outW);
    }
}
