package io.featurefuse.nn.train;

import io.featurefuse.engine.Tensor;
import io.featurefuse.engine.io.SafeTensors;
import io.featurefuse.nn.Module;
import io.featurefuse.nn.optim.Optimizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * Training state on disk, as two safetensors files written atomically each epoch:
 * <ul>
 *   <li>the weights file: the model's state_dict alone, under PyTorch's key names, so that
 *       {@code model.load_state_dict(safetensors.torch.load_file(F))} takes it;</li>
 *   <li>{@code F.ckpt}: the same tensors prefixed {@code model.}, the optimizer state prefixed
 *       {@code optim.}, and metadata: completed epochs, optimizer steps, the recipe and the model.
 *       Random draws are functions of (seed, epoch, batch), so this is the whole RNG state.</li>
 * </ul>
 */
public final class Checkpoint {
    public static final String FORMAT = "featurefuse-checkpoint-1";

    private Checkpoint() {}

    public static Path resumeFile(Path weights) {
        return weights.resolveSibling(weights.getFileName() + ".ckpt");
    }

    /** What a checkpoint restores. */
    public record State(int epochsDone, long steps, Map<String, String> metadata) {}

    public static void save(Path weights, Module model, Optimizer opt, int epochsDone, Map<String, String> metadata) throws IOException {
        Map<String, String> meta = new LinkedHashMap<>(metadata);
        meta.put("format", FORMAT);
        meta.put("epochs_done", Integer.toString(epochsDone));
        meta.put("steps", Long.toString(opt.steps()));
        Map<String, Tensor> all = new LinkedHashMap<>();
        Set<String> ints = new LinkedHashSet<>();
        model.stateDict().forEach((k, v) -> all.put("model." + k, v));
        model.integerStateKeys().forEach(k -> ints.add("model." + k));
        opt.stateDict(model.namedParameters()).forEach((k, v) -> all.put("optim." + k, v));
        // the resume file first: if we die between the two writes, resuming still finds a consistent state
        SafeTensors.write(resumeFile(weights), all, meta, ints);
        SafeTensors.write(weights, model.stateDict(), metadata, model.integerStateKeys());
    }

    /** Restores model and optimizer from F.ckpt; says clearly when the file is not a checkpoint of this kind. */
    public static State load(Path weights, Module model, Optimizer opt) throws IOException {
        Path file = resumeFile(weights);
        SafeTensors.Contents c = SafeTensors.read(file);
        Map<String, String> meta = c.metadata();
        if (!FORMAT.equals(meta.get("format"))) throw new IOException(file + " is not a featurefuse training checkpoint (no '" + FORMAT + "' format tag)");
        Map<String, Tensor> modelState = new LinkedHashMap<>(), optState = new LinkedHashMap<>();
        c.tensors().forEach((k, v) -> {
            if (k.startsWith("model.")) modelState.put(k.substring(6), v);
            else if (k.startsWith("optim.")) optState.put(k.substring(6), v);
        });
        try {
            model.loadStateDict(modelState, true);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + " does not fit this model: " + e.getMessage());
        }
        long steps;
        int epochs;
        try {
            steps = Long.parseLong(meta.get("steps"));
            epochs = Integer.parseInt(meta.get("epochs_done"));
        } catch (NumberFormatException e) {
            throw new IOException(file + " has no valid steps / epochs_done metadata");
        }
        opt.loadStateDict(optState, model.namedParameters(), steps);
        return new State(epochs, steps, meta);
    }
}
