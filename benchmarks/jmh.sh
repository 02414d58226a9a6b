#!/usr/bin/env bash
# Builds the JMH benchmarks jar with JDK 25 and runs it; arguments go to JMH, e.g.
#   benchmarks/jmh.sh GemmBench              # SGEMM n = 256, 1024, 2048
#   benchmarks/jmh.sh BroadcastAddBench      # add of 16M floats, three broadcast layouts
#   benchmarks/jmh.sh CnnOpsBench            # conv2d shapes fwd and fwd+bwd, batch norm, max pool, bilinear
#   benchmarks/jmh.sh -l                     # list the benchmarks
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
. "$root/tools/find-jdk.sh"
find_jdk25 || exit 2
jar="$root/benchmarks/target/benchmarks.jar"
if [ ! -f "$jar" ] || [ -n "$(find "$root/engine/src/main" "$root/cli/src/main" "$root/benchmarks/src/main" -newer "$jar" -print -quit)" ]; then
  echo "jmh: building benchmarks.jar..." >&2
  (cd "$root" && JAVA_HOME="$JDK25" MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" \
    mvn -q -B -ntp -DskipTests -pl benchmarks -am package)
fi
# -foe: a fork that fails must fail the run (JMH exits 0 otherwise).
# JMH 1.37 calls sun.misc.Unsafe, which JDK 25 warns about on every start: allowed here, in the
# harness JVM and (through -jvmArgsPrepend) in each fork.
exec "$JDK25/bin/java" "${FEATUREFUSE_JVM_FLAGS[@]}" --sun-misc-unsafe-memory-access=allow -jar "$jar" -foe true \
  -jvmArgsPrepend --sun-misc-unsafe-memory-access=allow "$@" \
  2> >(grep -v '^WARNING: Using incubator modules' >&2)
