package io.featurefuse.fusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.featurefuse.engine.Tensor;
import io.featurefuse.nn.models.Backbones;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class AlignerTest {
    static final MapShape A = new MapShape(64, 14, 14), B = new MapShape(96, 7, 7);

    @Test
    void theReferencePlanUpsamplesBAndProjectsBoth() {
        Aligner.Plan p = Aligner.plan(A, B, Fusion.Needs.SAME_SHAPE, "to-larger", Aligner.Up.BILINEAR, Aligner.Down.AVGPOOL, 128, new SplittableRandom(1));
        assertEquals("B 96x7x7 -> bilinear -> 96x14x14; A 64->128, B 96->128 by 1x1 conv+BN", p.description());
        assertArrayEquals(new int[] {2, 128, 14, 14}, p.alignB().call(Tensor.zeros(2, 96, 7, 7)).shape().toArray());
        assertArrayEquals(new int[] {2, 128, 14, 14}, p.alignA().call(Tensor.zeros(2, 64, 14, 14)).shape().toArray());
    }

    @Test
    void everyMethodReachesTheTargetSize() {
        for (Aligner.Up up : Aligner.Up.values()) {
            Aligner.Plan p = Aligner.plan(A, B, Fusion.Needs.SAME_SIZE, "to-larger", up, Aligner.Down.AVGPOOL, 0, new SplittableRandom(1));
            assertArrayEquals(new int[] {1, 96, 14, 14}, p.alignB().call(Tensor.ones(1, 96, 7, 7)).shape().toArray(), up.name());
        }
        for (Aligner.Down down : Aligner.Down.values()) {
            Aligner.Plan p = Aligner.plan(A, B, Fusion.Needs.SAME_SIZE, "to-smaller", Aligner.Up.BILINEAR, down, 0, new SplittableRandom(1));
            assertArrayEquals(new int[] {1, 64, 7, 7}, p.alignA().call(Tensor.ones(1, 64, 14, 14)).shape().toArray(), down.name());
        }
        Aligner.Plan fixed = Aligner.plan(A, B, Fusion.Needs.SAME_SHAPE, "10x10", Aligner.Up.NEAREST, Aligner.Down.AREA, 0, new SplittableRandom(1));
        assertEquals("A 64x14x14 -> area -> 64x10x10; B 96x7x7 -> nearest -> 96x10x10; A 64->96 by 1x1 conv+BN", fixed.description());
    }

    @Test
    void impossiblePlansNameBothShapes() {
        var e = assertThrows(IllegalArgumentException.class, () -> Aligner.plan(new MapShape(8, 10, 10), new MapShape(8, 4, 4),
                Fusion.Needs.SAME_SIZE, "to-larger", Aligner.Up.DECONV, Aligner.Down.AVGPOOL, 0, new SplittableRandom(1)));
        assertEquals("maps A 8x10x10 and B 8x4x4 cannot be aligned under policy to-larger: cannot align B 8x4x4 to 10x10 by a transposed conv:"
                + " that needs one whole-number scale factor for both dims", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Aligner.plan(A, B, Fusion.Needs.SAME_SIZE, "bigger", Aligner.Up.BILINEAR, Aligner.Down.AVGPOOL, 0, new SplittableRandom(1)));
        assertEquals("none needed (the strategy takes maps of any size)",
                Aligner.plan(A, B, Fusion.Needs.NOTHING, "to-larger", Aligner.Up.BILINEAR, Aligner.Down.AVGPOOL, 0, new SplittableRandom(1)).description());
    }

    /** Concat takes B's map as it lies, to resize after its 1x1 conv, where the aligners only resize, by one rule. */
    @Test
    void concatFoldsAResizeOnlyPlan() {
        SplittableRandom r = new SplittableRandom(1);
        java.util.function.BiFunction<String, Aligner.Up, TwoStream> model = (policy, up) -> new TwoStream(Backbones.create("resnet_a", 1, r), "block2",
                Backbones.create("vgg_b", 1, r), "conv3", "concat", policy, up, Aligner.Down.AREA, 32, 10, false, 28, 28, r);
        assertEquals(new io.featurefuse.engine.ResizeSpec(14, 14, io.featurefuse.engine.InterpolationMode.BILINEAR, false),
                model.apply("to-larger", Aligner.Up.BILINEAR).foldedResize());
        assertEquals(null, model.apply("to-larger", Aligner.Up.DECONV).foldedResize(), "a transposed conv is no resize");
        assertEquals(null, model.apply("10x10", Aligner.Up.NEAREST).foldedResize(), "area down and nearest up are two rules");
    }

    @Test
    void twoStreamRunsEveryStrategyOnTheReferenceBackbones() {
        for (String s : Strategies.names()) {
            SplittableRandom r = new SplittableRandom(1);
            TwoStream m = new TwoStream(Backbones.create("resnet_a", 1, r), "block2", Backbones.create("vgg_b", 1, r), "conv3", s, "to-larger",
                    Aligner.Up.BILINEAR, Aligner.Down.AVGPOOL, 32, 10, false, 28, 28, r);
            Tensor y = m.call(Tensor.randn(new SplittableRandom(2), 2, 1, 28, 28));
            assertArrayEquals(new int[] {2, 10}, y.shape().toArray(), s);
        }
    }

    @Test
    void frozenBackbonesKeepTheirWeightsAndStatistics() {
        SplittableRandom r = new SplittableRandom(1);
        TwoStream m = new TwoStream(Backbones.create("vgg_b", 1, r), "conv3", Backbones.create("vgg_b", 1, r), "pool2", "add", "to-larger",
                Aligner.Up.BILINEAR, Aligner.Down.AVGPOOL, 16, 10, true, 28, 28, r);
        double[] rm = m.stateDict().get("a.1.running_mean").toArray();
        m.train();
        m.call(Tensor.randn(new SplittableRandom(2), 4, 1, 28, 28)).sum().backward();
        assertArrayEquals(rm, m.stateDict().get("a.1.running_mean").toArray());
        assertEquals(null, m.namedParameters().get("a.0.weight").grad());
        assertEquals(true, m.namedParameters().get("fc.weight").grad() != null);
    }
}
