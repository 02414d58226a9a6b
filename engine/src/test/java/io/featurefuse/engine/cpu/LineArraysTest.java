package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * Line-placed scratch arrays: under G1 with regions of up to 2 MB (the tests run 1 MB regions,
 * as fuse does) every array is at least half a region long, which is what makes G1 place it at a
 * region start; elsewhere arrays keep their own length. Where the data then lies is not visible
 * from Java; the kernels that index from LINE_START are checked by Conv2dTest's results.
 */
class LineArraysTest {

    @Test
    void arraysAreHumongousExactlyWhereG1HasSmallRegions() {
        HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
        boolean g1 = Boolean.parseBoolean(vm.getVMOption("UseG1GC").getValue());
        long region = g1 ? Long.parseLong(vm.getVMOption("G1HeapRegionSize").getValue()) : 0;
        int expected = g1 && region <= 2 << 20 ? (int) (region / 2 / Float.BYTES) : 0;
        assertEquals(expected, LineArrays.humongousFloats(), "G1 " + g1 + ", region " + region + " bytes");
    }

    @Test
    void arraysHoldTheirFloatsFromTheLineStart() {
        for (int floats : new int[] {0, 1, 100, 1_000_000}) {
            float[] a = LineArrays.of(floats);
            assertTrue(a.length >= Simd.LINE_START + floats, floats + " floats in " + a.length);
            assertTrue(a.length >= LineArrays.humongousFloats(), "not humongous: " + a.length);
            for (float v : a) assertEquals(0f, v);
        }
    }

    @Test
    void growReplacesOnlyArraysTooShortFromTheLineStart() {
        float[][] scratch = {new float[Simd.LINE_START + 9]};
        float[] kept = scratch[0];
        assertSame(kept, LineArrays.grow(scratch, 0, 9));
        float[] grown = LineArrays.grow(scratch, 0, 10);
        assertNotSame(kept, grown);
        assertSame(grown, scratch[0]);
        assertTrue(grown.length >= Simd.LINE_START + 10);
    }

    @Test
    void buffersSharingAnArrayEachStartOnTheLineAfterThePreviousEnds() {
        int ls = Simd.LINE_START;
        assertEquals(ls, LineArrays.after(ls, 0));
        assertEquals(ls + 16, LineArrays.after(ls, 1));
        assertEquals(ls + 16, LineArrays.after(ls, 16));
        assertEquals(ls + 48, LineArrays.after(ls + 16, 17));
    }

    @Test
    void aBufferPastTheArrayLimitIsRefusedInOneSentence() {
        var e = assertThrows(IllegalArgumentException.class, () -> LineArrays.of(Integer.MAX_VALUE - 10));
        assertEquals("scratch buffer of " + (Integer.MAX_VALUE - 10) + " floats is too large", e.getMessage());
    }
}
