package io.featurefuse.nn;

import java.util.List;

/** What loading a state dict left unmatched: names the model has but the file lacks, the reverse, and shape clashes. */
public record StateDictReport(List<String> missing, List<String> unexpected, List<String> misShaped) {
    public StateDictReport {
        missing = List.copyOf(missing);
        unexpected = List.copyOf(unexpected);
        misShaped = List.copyOf(misShaped);
    }

    public boolean clean() {
        return missing.isEmpty() && unexpected.isEmpty() && misShaped.isEmpty();
    }

    /** One sentence naming the first few problems of each kind. */
    public String describe() {
        if (clean()) return "every key matched";
        StringBuilder s = new StringBuilder();
        part(s, "missing", "", missing);
        part(s, "unexpected", "", unexpected);
        part(s, "", " with the wrong shape", misShaped);
        return s.toString();
    }

    /** "3 missing keys: a, b, c" or "1 key with the wrong shape: a (...)". */
    private static void part(StringBuilder s, String adjective, String qualifier, List<String> names) {
        if (names.isEmpty()) return;
        if (!s.isEmpty()) s.append("; ");
        s.append(names.size()).append(' ').append(adjective.isEmpty() ? "" : adjective + " ").append(names.size() == 1 ? "key" : "keys")
                .append(qualifier).append(": ");
        // a tensor named "" (legal in safetensors) would otherwise show as nothing after the colon
        s.append(String.join(", ", names.subList(0, Math.min(5, names.size())).stream().map(n -> n.isEmpty() ? "\"\" (an empty name)" : n).toList()));
        if (names.size() > 5) s.append(", ...");
    }
}
