package io.featurefuse.cli;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** "--name value" and "--flag" options of one command, checked against the names it accepts. */
final class Options {
    private final String command;
    private final Map<String, String> values = new HashMap<>();

    private Options(String command) {
        this.command = command;
    }

    /** Parses args; valueOptions take a value, flags do not; anything else is a usage error. */
    static Options parse(String command, List<String> args, Set<String> valueOptions, Set<String> flags) {
        Options o = new Options(command);
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            String name = a, value = null;
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                name = a.substring(0, eq);
                value = a.substring(eq + 1);
            }
            if (valueOptions.contains(name)) {
                if (value == null) {
                    if (i + 1 >= args.size()) throw new UsageException(command + ": option " + name + " needs a value");
                    value = args.get(++i);
                }
                o.values.put(name, value);
            } else if (flags.contains(name) && value == null) {
                o.values.put(name, "true");
            } else {
                List<String> known = new ArrayList<>(valueOptions);
                known.addAll(flags);
                java.util.Collections.sort(known);
                throw new UsageException(command + ": unknown option '" + a + "'; the options are " + String.join(", ", known));
            }
        }
        return o;
    }

    boolean flag(String name) {
        return values.containsKey(name);
    }

    String string(String name, String fallback) {
        return values.getOrDefault(name, fallback);
    }

    int integer(String name, int fallback, int min, int max) {
        String v = values.get(name);
        if (v == null) return fallback;
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= min && n <= max) return n;
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new UsageException(command + ": " + name + " must be a whole number from " + min + " to " + max + ", not '" + v + "'");
    }

    double decimal(String name, double fallback, double min, double max) {
        String v = values.get(name);
        if (v == null) return fallback;
        try {
            double d = Double.parseDouble(v.trim());
            if (d >= min && d <= max) return d;
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new UsageException(command + ": " + name + " must be a number from " + min + " to " + max + ", not '" + v + "'");
    }

    /** A comma-separated list of whole numbers, e.g. "256,1024". */
    int[] integers(String name, int[] fallback, int min, int max) {
        String v = values.get(name);
        if (v == null) return fallback;
        String[] parts = v.split(",");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                out[i] = Integer.parseInt(parts[i].trim());
                if (out[i] >= min && out[i] <= max) continue;
            } catch (NumberFormatException ignored) {
                // reported below
            }
            throw new UsageException(command + ": " + name + " takes whole numbers from " + min + " to " + max
                    + " separated by commas, not '" + v + "'");
        }
        return out;
    }
}
