package io.featurefuse.nn.data;

import io.featurefuse.engine.Tensor;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Batches of a data set: shuffled by a seeded permutation per epoch, normalised per channel
 * ((x/255 - mean) / std), optionally augmented, and prepared on a background thread a few batches
 * ahead so that the trainer does not wait for decoding. Every random choice is a function of
 * (seed, epoch, batch index) alone, so an epoch can be replayed or resumed exactly.
 */
public final class DataLoader {
    private static final int PREFETCH = 3;
    private final Dataset data;
    private final int batchSize;
    private final boolean shuffle;
    private final long seed;
    private final float[] mean, invStd;
    private final Augment augment;

    public DataLoader(Dataset data, int batchSize, boolean shuffle, long seed, double[] mean, double[] std, Augment augment) {
        if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive, not " + batchSize);
        if (mean.length != data.channels() || std.length != data.channels())
            throw new IllegalArgumentException("normalisation has " + mean.length + " means and " + std.length + " stds for " + data.channels() + " channels");
        this.data = data;
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.seed = seed;
        this.mean = new float[mean.length];
        this.invStd = new float[std.length];
        for (int c = 0; c < mean.length; c++) {
            if (!(std[c] > 0)) throw new IllegalArgumentException("normalisation std " + std[c] + " must be positive");
            this.mean[c] = (float) mean[c];
            this.invStd[c] = (float) (1 / std[c]);
        }
        this.augment = augment;
    }

    public Dataset data() { return data; }

    public int batchesPerEpoch() {
        return (data.size() + batchSize - 1) / batchSize;
    }

    /** The image order of an epoch: a seeded Fisher-Yates shuffle, or 0..N-1. */
    public int[] order(int epoch) {
        int[] idx = new int[data.size()];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        if (shuffle) {
            SplittableRandom r = new SplittableRandom(mix(seed, epoch, -1));
            for (int i = idx.length - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
        }
        return idx;
    }

    /** Batch number b of an epoch, built on the calling thread. */
    public Batch batch(int epoch, int[] order, int b) {
        int from = b * batchSize, n = Math.min(batchSize, order.length - from);
        int c = data.channels(), h = data.height(), w = data.width(), plane = h * w, per = c * plane;
        float[] out = new float[n * per];
        byte[] px = data.pixels();
        int[] labels = new int[n];
        SplittableRandom r = augment.none() ? null : new SplittableRandom(mix(seed, epoch, b));
        int pad = augment.cropPadding();
        for (int i = 0; i < n; i++) {
            int src = order[from + i];
            labels[i] = data.labels()[src];
            int dy = 0, dx = 0;
            boolean flip = false;
            if (r != null) {
                if (pad > 0) {
                    dy = r.nextInt(2 * pad + 1) - pad;
                    dx = r.nextInt(2 * pad + 1) - pad;
                }
                flip = r.nextDouble() < augment.flipP();
            }
            for (int ch = 0; ch < c; ch++) {
                float m = mean[ch], s = invStd[ch], zero = -m * s;
                int sBase = src * per + ch * plane, oBase = i * per + ch * plane;
                for (int y = 0; y < h; y++) {
                    int sy = y + dy;
                    for (int x = 0; x < w; x++) {
                        int sx = (flip ? w - 1 - x : x) + dx;
                        out[oBase + y * w + x] = sy < 0 || sy >= h || sx < 0 || sx >= w ? zero // padding is a zero pixel
                                : ((px[sBase + sy * w + sx] & 0xFF) * (1f / 255f) - m) * s;
                    }
                }
            }
        }
        return new Batch(b, Tensor.of(out, n, c, h, w), labels);
    }

    /** The batches of an epoch, prepared on a background thread; close it to stop early. */
    public Batches epoch(int epoch) {
        return new Batches(epoch, 0);
    }

    /** The batches of an epoch from batch number first on (for resuming mid-epoch). */
    public Batches epoch(int epoch, int first) {
        return new Batches(epoch, first);
    }

    /** An epoch's batches in order, produced ahead by a daemon thread. */
    public final class Batches implements Iterator<Batch>, AutoCloseable {
        private static final Batch END = new Batch(-1, null, null);
        private final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(PREFETCH);
        private final Thread producer;
        private Object next;

        private Batches(int epoch, int first) {
            producer = Thread.ofPlatform().daemon().name("featurefuse-loader").start(() -> {
                try {
                    int[] order = order(epoch);
                    for (int b = first; b < batchesPerEpoch(); b++) queue.put(batch(epoch, order, b));
                    queue.put(END);
                } catch (InterruptedException e) {
                    // closed early
                } catch (RuntimeException | Error e) {
                    queue.clear();
                    queue.offer(e);
                }
            });
        }

        @Override
        public boolean hasNext() {
            if (next == null) {
                try {
                    next = queue.take();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for the next batch");
                }
            }
            if (next instanceof RuntimeException e) throw e;
            if (next instanceof Error e) throw e;
            return next != END;
        }

        @Override
        public Batch next() {
            if (!hasNext()) throw new NoSuchElementException();
            Batch b = (Batch) next;
            next = null;
            return b;
        }

        @Override
        public void close() {
            producer.interrupt();
        }
    }

    /** A seed for (seed, epoch, batch) with well-spread bits (SplitMix64's finaliser). */
    public static long mix(long seed, long epoch, long batch) {
        long z = seed * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + batch * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
