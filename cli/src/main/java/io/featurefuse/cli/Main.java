package io.featurefuse.cli;

public final class Main {
    public static void main(String[] args) {
        System.out.println(Runtime.version() + " " + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED);
    }
}
