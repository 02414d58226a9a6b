package io.featurefuse.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

/**
 * The garbage collector's pauses over a stretch of this process, as the JVM's flight recorder
 * reports them: one jdk.GarbageCollection event per collection, with its longest pause and the sum
 * of its pauses to the microsecond (a concurrent cycle's remark and cleanup pauses included). The
 * same pauses that {@code -Xlog:gc} prints, read in process, so that {@code fuse bench --only
 * gc-pauses} can report the longest one as a row (the GC management beans give whole
 * milliseconds only).
 *
 * <p>The recording starts when this object is made and runs until {@link #since}; starting it costs
 * a few hundred milliseconds and may itself collect, hence the window's own start.
 */
final class GcPauses implements AutoCloseable {
    /** Collections that started in the window, their longest pause and all their pauses together. */
    record Summary(int collections, double longestMs, double totalMs) {}

    private final Recording recording = new Recording();

    GcPauses() {
        recording.enable("jdk.GarbageCollection").withoutThreshold();
        recording.setName("featurefuse GC pauses");
        recording.start();
    }

    /** Stops the recording and sums up the collections that started at {@code from} or later. */
    Summary since(Instant from) throws IOException {
        recording.stop();
        Path file = Files.createTempFile("featurefuse-gc-", ".jfr");
        try {
            recording.dump(file);
            int collections = 0;
            double longest = 0, total = 0;
            for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
                if (!e.getEventType().getName().equals("jdk.GarbageCollection") || e.getStartTime().isBefore(from)) continue;
                collections++;
                longest = Math.max(longest, millis(e.getDuration("longestPause")));
                total += millis(e.getDuration("sumOfPauses"));
            }
            return new Summary(collections, longest, total);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static double millis(Duration d) {
        return d.toNanos() / 1e6;
    }

    @Override
    public void close() {
        recording.close();
    }
}
