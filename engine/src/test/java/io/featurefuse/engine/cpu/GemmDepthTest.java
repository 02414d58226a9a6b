package io.featurefuse.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How Gemm picks the depth of its k blocks: by the CPU model (CpuModel), the property, and the height of a task. */
class GemmDepthTest {
    private static final String ZEN5 = """
            processor\t: 0
            vendor_id\t: AuthenticAMD
            cpu family\t: 26
            model\t\t: 2

            processor\t: 1
            vendor_id\t: GenuineIntel
            cpu family\t: 6
            """;

    @Test
    void readsTheFirstProcessorsVendorAndFamily() {
        assertEquals(new CpuModel("AuthenticAMD", 26), CpuModel.parse(ZEN5.lines()));
        assertEquals(new CpuModel("GenuineIntel", 6), CpuModel.parse(Stream.of("cpu family\t: 6", "vendor_id\t: GenuineIntel")));
    }

    @Test
    void aMissingOrMalformedEntryIsUnknown(@TempDir Path dir) throws Exception {
        assertEquals(CpuModel.UNKNOWN, CpuModel.parse(Stream.of("vendor_id : AuthenticAMD", "", "cpu family : 26")));
        assertEquals(CpuModel.UNKNOWN, CpuModel.parse(Stream.of("vendor_id : AuthenticAMD", "cpu family : twenty")));
        assertEquals(CpuModel.UNKNOWN, CpuModel.parse(Stream.empty()));
        assertEquals(CpuModel.UNKNOWN, CpuModel.read(dir.resolve("absent")));
        Path file = Files.writeString(dir.resolve("cpuinfo"), ZEN5);
        assertEquals(new CpuModel("AuthenticAMD", 26), CpuModel.read(file));
    }

    @Test
    void onlyZen5AndLaterKeepDeepBlocksForTallTasks() {
        assertTrue(new CpuModel("AuthenticAMD", 0x1A).zen5OrLater());
        assertFalse(new CpuModel("AuthenticAMD", 0x19).zen5OrLater());
        assertFalse(new CpuModel("GenuineIntel", 26).zen5OrLater());
        assertEquals(Gemm.KC, Gemm.chooseTallDepth(null, new CpuModel("AuthenticAMD", 26)));
        assertEquals(256, Gemm.chooseTallDepth(" ", new CpuModel("GenuineIntel", 6)));
        assertEquals(256, Gemm.chooseTallDepth(null, CpuModel.UNKNOWN));
        assertEquals(512, Gemm.chooseTallDepth(" 512", new CpuModel("AuthenticAMD", 26)));
    }

    @Test
    void aBadDepthPropertyIsNamed() {
        for (String bad : new String[] {"8", "70000", "deep", "2.5"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Gemm.chooseTallDepth(bad, CpuModel.UNKNOWN));
            assertEquals("featurefuse.gemm.kc must be a whole number from 16 to 65536, not '" + bad + "'", e.getMessage());
        }
    }

    @Test
    void tallTasksTakeTheTallDepth() {
        assertEquals(Gemm.TALL_KC, Gemm.depth(1, 2047, false), "one thread: 256-row tasks");
        assertEquals(Gemm.TALL_KC, Gemm.depth(8, 128, false), "a batch of 128-row problems");
        assertEquals(Gemm.KC, Gemm.depth(8, 64, false), "a batch of 64-row problems: no task spans two");
        assertEquals(Gemm.KC, Gemm.depth(1, 120, false), "a task of 120 rows");
        assertEquals(234, Gemm.kBlock(2100, 256));
    }
}
