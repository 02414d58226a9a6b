package io.featurefuse.fusion;

import io.featurefuse.engine.InterpolationMode;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.layers.AvgPool2d;
import io.featurefuse.nn.layers.BatchNorm2d;
import io.featurefuse.nn.layers.Conv2d;
import io.featurefuse.nn.layers.ConvTranspose2d;
import io.featurefuse.nn.layers.Identity;
import io.featurefuse.nn.layers.MaxPool2d;
import io.featurefuse.nn.layers.Sequential;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.random.RandomGenerator;

/**
 * Builds the alignment of two feature maps from their shapes: a spatial step to a common size
 * (a policy picks it: {@code to-larger}, {@code to-smaller} or {@code HxW}; upsampling by
 * nearest, bilinear, bilinear with aligned corners or a learned transposed conv; downsampling by
 * average or max pooling, a strided conv or area interpolation) and a channel step (1x1 conv + BN
 * projections to a common width), as far as the fusion strategy needs them.
 */
public final class Aligner {
    public enum Up { BILINEAR, BILINEAR_CORNERS, NEAREST, DECONV }

    public enum Down { AVGPOOL, MAXPOOL, STRIDED_CONV, AREA, BILINEAR }

    /** An Up or Down as the --up / --down options spell it: bilinear-corners, strided-conv. */
    public static String optionName(Enum<?> e) {
        return e.name().replace('_', '-').toLowerCase(Locale.ROOT);
    }

    /** The two alignment modules, the aligned shapes, and the plan in words. */
    public record Plan(Module alignA, Module alignB, MapShape a, MapShape b, String description) {}

    private Aligner() {}

    /**
     * Plans the alignment of maps a and b for a fusion that needs what {@code needs} says. channels
     * > 0 projects both maps to that width by 1x1 conv + BN (the reference does so with 128); 0
     * projects only the narrower map, and only when the widths differ.
     */
    public static Plan plan(MapShape a, MapShape b, Fusion.Needs needs, String policy, Up up, Down down, int channels, RandomGenerator rng) {
        List<String> steps = new ArrayList<>();
        List<Module> sa = new ArrayList<>(), sb = new ArrayList<>();
        int ha = a.h(), wa = a.w(), hb = b.h(), wb = b.w();
        if (needs != Fusion.Needs.NOTHING) {
            int[] target = target(a, b, policy);
            try {
                spatial("A", a, target, up, down, sa, steps, rng);
                spatial("B", b, target, up, down, sb, steps, rng);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("maps A " + a + " and B " + b + " cannot be aligned under policy " + policy + ": " + e.getMessage());
            }
            ha = hb = target[0];
            wa = wb = target[1];
        }
        int ca = a.c(), cb = b.c();
        if (needs == Fusion.Needs.SAME_SHAPE) {
            if (channels > 0) {
                sa.add(new Sequential(new Conv2d(ca, channels, 1, 1, 0, false, rng), new BatchNorm2d(channels)));
                sb.add(new Sequential(new Conv2d(cb, channels, 1, 1, 0, false, rng), new BatchNorm2d(channels)));
                steps.add("A " + ca + "->" + channels + ", B " + cb + "->" + channels + " by 1x1 conv+BN");
                ca = cb = channels;
            } else if (ca != cb) {
                boolean aNarrow = ca < cb;
                int to = Math.max(ca, cb), from = Math.min(ca, cb);
                (aNarrow ? sa : sb).add(new Sequential(new Conv2d(from, to, 1, 1, 0, false, rng), new BatchNorm2d(to)));
                steps.add((aNarrow ? "A " : "B ") + from + "->" + to + " by 1x1 conv+BN");
                ca = cb = to;
            }
        }
        if (steps.isEmpty()) steps.add(needs == Fusion.Needs.NOTHING ? "none needed (the strategy takes maps of any size)" : "none needed");
        return new Plan(seq(sa), seq(sb), new MapShape(ca, ha, wa), new MapShape(cb, hb, wb), String.join("; ", steps));
    }

    static int[] target(MapShape a, MapShape b, String policy) {
        return switch (policy) {
            case "to-larger" -> new int[] {Math.max(a.h(), b.h()), Math.max(a.w(), b.w())};
            case "to-smaller" -> new int[] {Math.min(a.h(), b.h()), Math.min(a.w(), b.w())};
            default -> {
                String[] hw = policy.toLowerCase(Locale.ROOT).split("x");
                int h, w;
                try {
                    if (hw.length != 2) throw new NumberFormatException();
                    h = Integer.parseInt(hw[0].strip());
                    w = Integer.parseInt(hw[1].strip());
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("alignment policy '" + policy + "' is not to-larger, to-smaller or a size such as 14x14");
                }
                if (h <= 0 || w <= 0 || h > 4096 || w > 4096)
                    throw new IllegalArgumentException("alignment size " + policy + " is out of range: height and width from 1 to 4096");
                yield new int[] {h, w};
            }
        };
    }

    private static void spatial(String name, MapShape m, int[] t, Up up, Down down, List<Module> out, List<String> steps, RandomGenerator rng) {
        int h = m.h(), w = m.w(), th = t[0], tw = t[1];
        if (h == th && w == tw) return;
        String to = m.c() + "x" + th + "x" + tw;
        if (th >= h && tw >= w) {
            switch (up) {
                case DECONV -> {
                    int f = factor(name, m, th, tw, true, "a transposed conv");
                    out.add(new ConvTranspose2d(m.c(), m.c(), f, f, 0, 0, false, rng));
                    steps.add(name + " " + m + " -> transposed conv x" + f + " -> " + to);
                }
                case NEAREST -> add(name, m, to, new Resize(th, tw, InterpolationMode.NEAREST, false), "nearest", out, steps);
                case BILINEAR_CORNERS -> add(name, m, to, new Resize(th, tw, InterpolationMode.BILINEAR, true), "bilinear (align corners)", out, steps);
                case BILINEAR -> add(name, m, to, new Resize(th, tw, InterpolationMode.BILINEAR, false), "bilinear", out, steps);
            }
        } else if (th <= h && tw <= w) {
            switch (down) {
                case AVGPOOL -> {
                    int f = factor(name, m, th, tw, false, "average pooling");
                    add(name, m, to, new AvgPool2d(f), "avg pool /" + f, out, steps);
                }
                case MAXPOOL -> {
                    int f = factor(name, m, th, tw, false, "max pooling");
                    add(name, m, to, new MaxPool2d(f), "max pool /" + f, out, steps);
                }
                case STRIDED_CONV -> {
                    int f = factor(name, m, th, tw, false, "a strided conv");
                    add(name, m, to, new Conv2d(m.c(), m.c(), f, f, 0, false, rng), "strided conv /" + f, out, steps);
                }
                case AREA -> add(name, m, to, new Resize(th, tw, InterpolationMode.AREA, false), "area", out, steps);
                case BILINEAR -> add(name, m, to, new Resize(th, tw, InterpolationMode.BILINEAR, false), "bilinear", out, steps);
            }
        } else {
            // one dim grows, the other shrinks: only interpolation does both
            add(name, m, to, new Resize(th, tw, InterpolationMode.BILINEAR, false), "bilinear", out, steps);
        }
    }

    private static void add(String name, MapShape m, String to, Module step, String how, List<Module> out, List<String> steps) {
        out.add(step);
        steps.add(name + " " + m + " -> " + how + " -> " + to);
    }

    private static int factor(String name, MapShape m, int th, int tw, boolean up, String what) {
        int big = up ? th : m.h(), small = up ? m.h() : th, bigW = up ? tw : m.w(), smallW = up ? m.w() : tw;
        if (big % small != 0 || bigW % smallW != 0 || big / small != bigW / smallW)
            throw new IllegalArgumentException("cannot align " + name + " " + m + " to " + th + "x" + tw + " by " + what
                    + ": that needs one whole-number scale factor for both dims");
        return big / small;
    }

    private static Module seq(List<Module> steps) {
        return steps.isEmpty() ? new Identity() : steps.size() == 1 ? steps.getFirst() : new Sequential(steps);
    }
}
