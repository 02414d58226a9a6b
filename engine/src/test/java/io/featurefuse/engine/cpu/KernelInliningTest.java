package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.MethodModel;
import java.lang.classfile.attribute.CodeAttribute;
import org.junit.jupiter.api.Test;

/**
 * The register-tile kernels must stay compiled on their own: C2 never inlines a hot callee of
 * more than FreqInlineSize (325) bytes of bytecode. Inlined into a larger caller, the kernel
 * shared that caller's node budget and C2 sometimes left Vector API calls out of line, boxing
 * every vector (the GEMM ran 4-5x slower in about one JVM run of three). A refactoring that
 * shrinks a kernel below the limit fails here instead of in a benchmark now and then.
 */
class KernelInliningTest {
    private static final int FREQ_INLINE_SIZE = 325;

    @Test
    void registerTileKernelsAreTooLargeForC2ToInline() throws IOException {
        assertLarger(GemmTiles.class, "tileKernel");
        assertLarger(GemmTiles.class, "tileKernelRows");
        assertLarger(GemmTiles.class, "tileKernel8");
        assertLarger(GemmTiles.class, "tileKernel8Narrow");
        assertLarger(GemmTiles.class, "tileKernel8Strided");
        assertLarger(GemmTiles.class, "tileKernelRows8");
        assertLarger(GemmTiles.class, "tileKernelRows8Dense");
        assertLarger(TapTiles.class, "tile");
        assertLarger(TapTiles.class, "tileOne");
        assertLarger(WinogradConv.class, "transformInput");
        assertLarger(WinogradConv.class, "transformOutput");
        assertLarger(WinogradWeightGrad.class, "transformGradient");
        assertLarger(WinogradF4WeightGrad.class, "transformGradient");
        assertLarger(DepthwiseKernels.class, "planeUnitStride");
        assertLarger(DepthwiseKernels.class, "weightTaps3x3");
        assertLarger(DepthwiseSameWidth.class, "plane3x3");
        assertLarger(DepthwiseSameWidth.class, "weightTaps3x3");
        assertLarger(FewTapsWeightGrad.class, "block");
    }

    /**
     * A helper that takes or returns vectors must stay small enough to be inlined wherever it is
     * called, since a vector that crosses a call that is not inlined is boxed (WinogradF4.bt, 192
     * bytes of bytecode taking six vectors, ran the 32->32 28x28 forward at a third of its speed
     * once compiled on its own). C2 inlines a callee of more than MaxInlineSize (35) bytes only
     * where the call is frequent in the caller's profile, and whether it is depends on what the
     * JVM ran before: Simd.sumLanes (42 bytes) was left out of line in Reductions.horizontal's sum
     * branch in 3 of ~47 runs of the cli tests, whose earlier tests call horizontal in other ways,
     * and the reference training step then made ~300 MB/s of boxed vectors (JFR) for good. Larger
     * helpers take arrays and offsets. (Arrays of vectors, built once, do not count.)
     */
    @Test
    void helpersThatPassVectorsAreSmallEnoughToInline() throws IOException, java.net.URISyntaxException {
        java.nio.file.Path dir = java.nio.file.Path.of(Gemm.class.getResource("Gemm.class").toURI()).getParent();
        java.util.List<String> tooLarge = new java.util.ArrayList<>();
        try (var files = java.nio.file.Files.list(dir)) {
            for (java.nio.file.Path f : files.filter(x -> x.toString().endsWith(".class")).toList()) {
                ClassModel model = ClassFile.of().parse(java.nio.file.Files.readAllBytes(f));
                for (MethodModel m : model.methods()) {
                    if (!PASSES_VECTORS.matcher(m.methodType().stringValue()).find()) continue;
                    int size = m.findAttribute(java.lang.classfile.Attributes.code()).map(CodeAttribute::codeLength).orElse(0);
                    if (size > VECTOR_HELPER_MAX) tooLarge.add(model.thisClass().asInternalName() + "." + m.methodName() + " (" + size + " bytes)");
                }
            }
        }
        assertTrue(tooLarge.isEmpty(), "methods passing vectors, over " + VECTOR_HELPER_MAX + " bytes of bytecode: " + tooLarge);
    }

    /**
     * All float vectors in one JVM must be of one species (Simd.F; int vectors share its shape).
     * The Vector API's shared code (FloatVector.intoArray, lanewise, ...) keeps one type profile
     * for all its callers. Once PackedB's transposes also made 256-bit vectors beside the 512-bit
     * ones, C2 sometimes compiled a kernel against that mixed profile where it had lost a
     * vector's exact type (an OSR entry, a loop phi): it guarded for both classes, the store's
     * species was no longer a constant, the intrinsic failed and every vector was boxed. PrintInlining
     * of such a run: "callee changed to Float256Vector::vspecies" under ResizeKernels$Gathers.apply,
     * then "VectorSupport::store ... failed to inline (intrinsic)"; JFR: ~40 MB of boxed vectors
     * a training step, 14-22 young collections in 60 steps instead of 2-3. So only the code that
     * picks the species may name one.
     */
    @Test
    void onlySimdNamesAVectorSpecies() throws IOException, java.net.URISyntaxException {
        java.nio.file.Path root = java.nio.file.Path.of(Gemm.class.getResource("Gemm.class").toURI()).getParent().getParent();
        java.util.List<String> found = new java.util.ArrayList<>();
        try (var files = java.nio.file.Files.walk(root)) {
            for (java.nio.file.Path f : files.filter(x -> x.toString().endsWith(".class")).sorted().toList()) {
                ClassModel model = ClassFile.of().parse(java.nio.file.Files.readAllBytes(f));
                for (MethodModel m : model.methods()) {
                    String where = model.thisClass().asInternalName() + "." + m.methodName().stringValue();
                    if (SPECIES_PICKERS.contains(where)) continue;
                    m.findAttribute(java.lang.classfile.Attributes.code()).ifPresent(code -> code.forEach(e -> {
                        String named = namedSpecies(e);
                        if (named != null) found.add(where + " uses " + named);
                    }));
                }
            }
        }
        assertTrue(found.isEmpty(), "vector species or shapes named outside Simd.chooseSpecies (derive them from Simd.F): " + found);
    }

    /** The methods that may name a species: Simd picks F; Gemm picks its tile rows by the preferred species' width (no vectors made). */
    private static final java.util.Set<String> SPECIES_PICKERS =
            java.util.Set.of("io/featurefuse/engine/cpu/Simd.chooseSpecies", "io/featurefuse/engine/cpu/Gemm.chooseRows");

    /** A SPECIES_ or shape constant read, or a call that makes a species or shape from scratch, else null. */
    private static String namedSpecies(java.lang.classfile.CodeElement e) {
        if (e instanceof java.lang.classfile.instruction.FieldInstruction fi && fi.owner().asInternalName().startsWith("jdk/incubator/vector/")
                && (fi.name().stringValue().startsWith("SPECIES_") || fi.name().stringValue().startsWith("S_")))
            return fi.owner().asInternalName() + "." + fi.name().stringValue();
        if (e instanceof java.lang.classfile.instruction.InvokeInstruction ii && ii.owner().asInternalName().startsWith("jdk/incubator/vector/")
                && SPECIES_MAKERS.contains(ii.name().stringValue()))
            return ii.owner().asInternalName() + "." + ii.name().stringValue();
        return null;
    }

    private static final java.util.Set<String> SPECIES_MAKERS =
            java.util.Set.of("species", "of", "ofLargestShape", "ofPreferred", "withShape", "forBitSize", "forIndexBitSize", "preferredShape");

    private static final java.util.regex.Pattern PASSES_VECTORS =
            java.util.regex.Pattern.compile("(?<!\\[)Ljdk/incubator/vector/(\\w*Vector|VectorMask|VectorShuffle);");

    /** Bytecode of a vector-passing helper at most: C2's MaxInlineSize. */
    private static final int VECTOR_HELPER_MAX = 35;

    /**
     * No vector or mask variable in the kernels may hold null (a vector made only on one branch,
     * null on the other): C2 must then keep the vector as an object. Pool2dKernels'
     * narrow max pool did that for its argmax vector; compiled after both training (indices kept)
     * and inference (none) had run, it boxed every vector and mask of the loop, ~3 GB/s of
     * garbage, and inference after training ran at ~60% speed. Checked in the sources.
     */
    @Test
    void noVectorVariableMayBeNull() throws IOException {
        java.util.List<String> found = new java.util.ArrayList<>();
        try (var files = java.nio.file.Files.list(java.nio.file.Path.of("src/main/java/io/featurefuse/engine/cpu"))) {
            for (java.nio.file.Path f : files.filter(x -> x.toString().endsWith(".java")).sorted().toList()) {
                java.util.List<String> lines = java.nio.file.Files.readAllLines(f);
                for (int i = 0; i < lines.size(); i++)
                    if (NULLABLE_VECTOR.matcher(lines.get(i)).find()) found.add(f.getFileName() + ":" + (i + 1) + ": " + lines.get(i).strip());
            }
        }
        assertTrue(found.isEmpty(), "vector variables that may hold null (branch on the condition instead): " + found);
    }

    /** A Vector, VectorMask or VectorShuffle declared or assigned from null or from a conditional with a null branch. */
    static final java.util.regex.Pattern NULLABLE_VECTOR = java.util.regex.Pattern.compile(
            "\\b\\w*Vector(Mask|Shuffle)?(<\\w+>)?\\s+\\w+\\s*=\\s*([^;]*\\?\\s*null\\s*:|[^;]*:\\s*null\\s*;|null\\s*;)");

    private static void assertLarger(Class<?> owner, String method) throws IOException {
        ClassModel model;
        try (InputStream in = owner.getResourceAsStream(owner.getSimpleName() + ".class")) {
            model = ClassFile.of().parse(in.readAllBytes());
        }
        MethodModel m = model.methods().stream().filter(x -> x.methodName().equalsString(method)).findFirst()
                .orElseThrow(() -> new AssertionError(owner.getSimpleName() + "." + method + " is gone: update this test"));
        int size = m.findAttribute(java.lang.classfile.Attributes.code()).map(CodeAttribute::codeLength).orElse(0);
        assertTrue(size > FREQ_INLINE_SIZE, owner.getSimpleName() + "." + method + " has " + size + " bytes of bytecode; over "
                + FREQ_INLINE_SIZE + " keeps C2 from inlining it (see GemmTiles.tileKernel)");
    }
}
