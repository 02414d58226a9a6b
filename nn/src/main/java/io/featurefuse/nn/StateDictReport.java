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
        part(s, "missing keys", missing);
        part(s, "unexpected keys", unexpected);
        part(s, "keys with the wrong shape", misShaped);
        return s.toString();
    }

    private static void part(StringBuilder s, String what, List<String> names) {
        if (names.isEmpty()) return;
        if (!s.isEmpty()) s.append("; ");
        s.append(names.size()).append(' ').append(what).append(": ");
        s.append(String.join(", ", names.subList(0, Math.min(5, names.size()))));
        if (names.size() > 5) s.append(", ...");
    }
}
