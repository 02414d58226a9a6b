package io.featurefuse.engine.cpu;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * The CPU's vendor and family as Linux reports them in /proc/cpuinfo (the first processor's),
 * for the few tuning choices that measured differently on different cores and that no cache
 * size explains (see Gemm.TALL_KC). Elsewhere, or when the file cannot be read, both are
 * unknown and the engine takes its general choice.
 */
record CpuModel(String vendor, int family) {
    static final CpuModel UNKNOWN = new CpuModel("", -1);
    /** This machine's, read once. */
    static final CpuModel HOST = read(Path.of("/proc/cpuinfo"));

    static CpuModel read(Path cpuinfo) {
        if (!Files.isReadable(cpuinfo)) return UNKNOWN;
        try (Stream<String> lines = Files.lines(cpuinfo)) {
            return parse(lines);
        } catch (IOException | UncheckedIOException e) {
            return UNKNOWN;
        }
    }

    /** The vendor_id and cpu family of the first processor listed; UNKNOWN where either is missing or malformed. */
    static CpuModel parse(Stream<String> lines) {
        String vendor = null;
        Integer family = null;
        for (String line : (Iterable<String>) lines::iterator) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                if (line.isBlank() && (vendor != null || family != null)) break; // the end of the first processor
                continue;
            }
            String key = line.substring(0, colon).trim(), value = line.substring(colon + 1).trim();
            if (key.equals("vendor_id") && vendor == null) vendor = value;
            else if (key.equals("cpu family") && family == null) {
                try {
                    family = Integer.parseInt(value);
                } catch (NumberFormatException e) {
                    return UNKNOWN;
                }
            }
            if (vendor != null && family != null) return new CpuModel(vendor, family);
        }
        return UNKNOWN;
    }

    /** AMD's Zen 5 cores (family 1Ah) and later. */
    boolean zen5OrLater() {
        return vendor.equals("AuthenticAMD") && family >= 0x1A;
    }
}
