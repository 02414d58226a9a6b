package io.featurefuse.nn.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Training progress on stderr: a bar redrawn in place on a terminal, plain lines (about every 10%
 * of an epoch) otherwise, with images/s, the running loss and the time left. The bar is redrawn
 * as whole lines (cursor up, clear, line) so that it survives line-buffered filters.
 */
public final class Progress {
    private final PrintStream out;
    private final boolean terminal;
    private int epochs = 1, batchesPerEpoch = 1;
    private long started, lastDraw;
    private boolean drawn;
    private int lastDecile = -1;

    public Progress(PrintStream out, boolean terminal) {
        this.out = out;
        this.terminal = terminal;
    }

    /** The default: stderr, as a bar when stderr is a terminal (the launcher says so in FEATUREFUSE_TTY). */
    public static Progress stderr() {
        String tty = System.getenv("FEATUREFUSE_TTY");
        boolean terminal = tty != null ? tty.equals("1") : System.console() != null && System.console().isTerminal();
        return new Progress(System.err, terminal);
    }

    public static Progress silent() {
        return new Progress(new PrintStream(java.io.OutputStream.nullOutputStream()), false);
    }

    /** The run's size, before its first epoch. */
    public void begin(int epochs, int batchesPerEpoch) {
        this.epochs = epochs;
        this.batchesPerEpoch = Math.max(1, batchesPerEpoch);
    }

    public void startEpoch() {
        started = System.nanoTime();
        lastDecile = -1;
        drawn = false;
    }

    /** After batch b (0-based) of epoch e (0-based) with images seen this epoch and the running loss. */
    public void step(int epoch, int b, long images, double loss) {
        long now = System.nanoTime();
        double secs = (now - started) / 1e9, rate = images / Math.max(secs, 1e-9);
        double left = secs / (b + 1) * (batchesPerEpoch - b - 1);
        int pct = (int) Math.min(100, 100L * (b + 1) / batchesPerEpoch);
        String text = String.format(Locale.ROOT, "epoch %d/%d %s %3d%% %6.0f img/s loss %.4f ETA %s", epoch + 1, epochs,
                bar(pct), pct, rate, loss, time(left));
        if (terminal) {
            if (now - lastDraw > 100_000_000L || b + 1 == batchesPerEpoch) {
                out.print((drawn ? "\033[A\r\033[K" : "") + text + "\n");
                out.flush();
                drawn = true;
                lastDraw = now;
            }
        } else if (pct / 10 != lastDecile) {
            lastDecile = pct / 10;
            out.println(text);
        }
    }

    public void endEpoch(String summary) {
        if (terminal && drawn) out.print("\033[A\r\033[K");
        out.println(summary);
    }

    private static String bar(int pct) {
        int full = pct / 5;
        return "[" + "#".repeat(full) + ".".repeat(20 - full) + "]";
    }

    static String time(double s) {
        long t = Math.round(s);
        return t >= 3600 ? String.format("%dh%02dm", t / 3600, t / 60 % 60) : String.format("%dm%02ds", t / 60, t % 60);
    }
}
