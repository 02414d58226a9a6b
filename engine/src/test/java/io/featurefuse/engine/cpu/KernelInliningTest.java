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
        assertLarger(Gemm.class, "tileKernel");
        assertLarger(Gemm.class, "tileKernelRows");
        assertLarger(WinogradConv.class, "transformInput");
        assertLarger(WinogradConv.class, "transformOutput");
        assertLarger(WinogradWeightGrad.class, "transformGradient");
        assertLarger(DepthwiseKernels.class, "planeUnitStride");
        assertLarger(DepthwiseKernels.class, "weightTaps3x3");
        assertLarger(DepthwiseSameWidth.class, "plane3x3");
        assertLarger(DepthwiseSameWidth.class, "weightTaps3x3");
    }

    private static void assertLarger(Class<?> owner, String method) throws IOException {
        ClassModel model;
        try (InputStream in = owner.getResourceAsStream(owner.getSimpleName() + ".class")) {
            model = ClassFile.of().parse(in.readAllBytes());
        }
        MethodModel m = model.methods().stream().filter(x -> x.methodName().equalsString(method)).findFirst()
                .orElseThrow(() -> new AssertionError(owner.getSimpleName() + "." + method + " is gone: update this test"));
        int size = m.findAttribute(java.lang.classfile.Attributes.code()).map(CodeAttribute::codeLength).orElse(0);
        assertTrue(size > FREQ_INLINE_SIZE, owner.getSimpleName() + "." + method + " has " + size + " bytes of bytecode; over "
                + FREQ_INLINE_SIZE + " keeps C2 from inlining it (see Gemm.tileKernel)");
    }
}
