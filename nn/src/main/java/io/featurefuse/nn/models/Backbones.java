package io.featurefuse.nn.models;

import io.featurefuse.engine.ConvOptions;
import io.featurefuse.nn.layers.Activation;
import io.featurefuse.nn.layers.BasicBlock;
import io.featurefuse.nn.layers.BatchNorm2d;
import io.featurefuse.nn.layers.Conv2d;
import io.featurefuse.nn.layers.MaxPool2d;
import java.util.Arrays;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * The backbones: the presets of the reference workload ({@code resnet_a}, {@code vgg_b}, layer for
 * layer and key for key as ../shared/reference/ref_twostream.py) and configurable small ResNet,
 * VGG and MobileNet-style nets, named by a spec string:
 * <ul>
 *   <li>{@code resnet:32x2,64x2,128x2}: a conv3x3 stem of the first width, then per stage
 *       {@code width x blocks} BasicBlocks, stride 2 at the start of every stage after the first;</li>
 *   <li>{@code vgg:32,64,128}: conv3x3+BN+ReLU per stage, 2x2 max pooling between stages;</li>
 *   <li>{@code mobilenet:32,64,128}: a conv3x3 stem, then per stage a depthwise-separable block
 *       (depthwise 3x3 + BN + ReLU, pointwise 1x1 + BN + ReLU), stride 2 from the second stage.</li>
 * </ul>
 */
public final class Backbones {
    private Backbones() {}

    public static final List<String> PRESETS = List.of("resnet_a", "vgg_b");

    public static Backbone create(String spec, int inChannels, RandomGenerator rng) {
        if (inChannels != 1 && inChannels != 3) throw new IllegalArgumentException("backbones take 1 or 3 input channels, not " + inChannels);
        return switch (spec) {
            case "resnet_a" -> resnetA(inChannels, rng);
            case "vgg_b" -> vggB(inChannels, rng);
            default -> {
                int colon = spec.indexOf(':');
                String kind = colon < 0 ? spec : spec.substring(0, colon);
                String args = colon < 0 ? "" : spec.substring(colon + 1);
                yield switch (kind) {
                    case "resnet" -> resnet(inChannels, parseStages(spec, args, true), rng);
                    case "vgg" -> vgg(inChannels, widths(parseStages(spec, args, false)), rng);
                    case "mobilenet" -> mobilenet(inChannels, widths(parseStages(spec, args, false)), rng);
                    default -> throw new IllegalArgumentException("unknown model '" + spec + "'; use resnet_a, vgg_b, resnet:32x2,64x2, vgg:32,64 or mobilenet:32,64");
                };
            }
        };
    }

    /** resnet_a: conv3x3(1->32)+BN+ReLU, BasicBlock(32->32), BasicBlock(32->64, stride 2): 64 x 14 x 14 from 28 x 28. */
    static Backbone resnetA(int in, RandomGenerator rng) {
        Backbone b = new Backbone(in);
        convBnRelu(b, in, 32, 3, rng);
        b.tap("stem", 32, 1);
        b.add(new BasicBlock(32, 32, 1, rng));
        b.tap("block1", 32, 1);
        b.add(new BasicBlock(32, 64, 2, rng));
        b.tap("block2", 64, 2);
        return b;
    }

    /** vgg_b: conv5x5(1->32)+BN+ReLU, pool, conv3x3(32->48)+BN+ReLU, pool, conv3x3(48->96)+BN+ReLU: 96 x 7 x 7. */
    static Backbone vggB(int in, RandomGenerator rng) {
        Backbone b = new Backbone(in);
        convBnRelu(b, in, 32, 5, rng);
        b.tap("conv1", 32, 1);
        b.add(new MaxPool2d(2));
        b.tap("pool1", 32, 2);
        convBnRelu(b, 32, 48, 3, rng);
        b.tap("conv2", 48, 2);
        b.add(new MaxPool2d(2));
        b.tap("pool2", 48, 4);
        convBnRelu(b, 48, 96, 3, rng);
        b.tap("conv3", 96, 4);
        return b;
    }

    static Backbone resnet(int in, int[][] stages, RandomGenerator rng) {
        Backbone b = new Backbone(in);
        int c = stages[0][0], stride = 1;
        convBnRelu(b, in, c, 3, rng);
        b.tap("stem", c, 1);
        for (int s = 0; s < stages.length; s++) {
            int width = stages[s][0];
            for (int k = 0; k < stages[s][1]; k++) {
                int st = s > 0 && k == 0 ? 2 : 1;
                b.add(new BasicBlock(c, width, st, rng));
                c = width;
                stride *= st;
            }
            b.tap("stage" + (s + 1), c, stride);
        }
        return b;
    }

    static Backbone vgg(int in, int[] widths, RandomGenerator rng) {
        Backbone b = new Backbone(in);
        int c = in, stride = 1;
        for (int s = 0; s < widths.length; s++) {
            if (s > 0) {
                b.add(new MaxPool2d(2));
                stride *= 2;
            }
            convBnRelu(b, c, widths[s], 3, rng);
            c = widths[s];
            b.tap("stage" + (s + 1), c, stride);
        }
        return b;
    }

    static Backbone mobilenet(int in, int[] widths, RandomGenerator rng) {
        Backbone b = new Backbone(in);
        int c = widths[0], stride = 1;
        convBnRelu(b, in, c, 3, rng);
        b.tap("stem", c, 1);
        for (int s = 0; s < widths.length; s++) {
            int st = s == 0 ? 1 : 2;
            b.add(new Conv2d(c, c, 3, ConvOptions.of(st, 1).withGroups(c), false, rng));
            b.add(new BatchNorm2d(c));
            b.add(Activation.relu());
            b.add(new Conv2d(c, widths[s], 1, 1, 0, false, rng));
            b.add(new BatchNorm2d(widths[s]));
            b.add(Activation.relu());
            c = widths[s];
            stride *= st;
            b.tap("stage" + (s + 1), c, stride);
        }
        return b;
    }

    private static void convBnRelu(Backbone b, int in, int out, int k, RandomGenerator rng) {
        b.add(new Conv2d(in, out, k, 1, k / 2, false, rng));
        b.add(new BatchNorm2d(out));
        b.add(Activation.relu());
    }

    private static int[] widths(int[][] stages) {
        return Arrays.stream(stages).mapToInt(s -> s[0]).toArray();
    }

    private static int[][] parseStages(String spec, String args, boolean withBlocks) {
        String example = withBlocks ? "resnet:32x2,64x2" : spec.substring(0, spec.indexOf(':') < 0 ? spec.length() : spec.indexOf(':')) + ":32,64";
        if (args.isBlank()) throw new IllegalArgumentException("model '" + spec + "' names no stages; write e.g. " + example);
        String[] parts = args.split(",");
        int[][] out = new int[parts.length][];
        for (int i = 0; i < parts.length; i++) {
            String[] wb = parts[i].strip().split("x", -1);
            try {
                int w = Integer.parseInt(wb[0]);
                int blocks = withBlocks && wb.length == 2 ? Integer.parseInt(wb[1]) : 1;
                if (w <= 0 || w > 4096 || blocks <= 0 || blocks > 64 || wb.length > (withBlocks ? 2 : 1)) throw new NumberFormatException();
                out[i] = new int[] {w, blocks};
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("model '" + spec + "': stage '" + parts[i] + "' is not valid; write e.g. " + example);
            }
        }
        return out;
    }
}
