# Sourced by ./fuse and the benchmark scripts: sets JDK25 to the newest installed JDK >= 25,
# looking at JAVA_HOME, the usual JDK folders and the java on PATH (each JDK's `release` file
# says its version). Prints one clear line and returns 1 when there is none.
find_jdk25() {
  local best="" best_major=0 candidates=() home release v major
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  for home in /usr/lib/jvm/* /opt/java/* /opt/jdk* /usr/local/lib/jvm/* "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/*; do
    [ -d "$home" ] && candidates+=("$home")
  done
  if command -v java >/dev/null 2>&1; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
  for home in "${candidates[@]}"; do
    release="$home/release"
    [ -x "$home/bin/java" ] && [ -f "$release" ] || continue
    v=$(sed -n 's/^JAVA_VERSION="\([0-9][0-9]*\).*/\1/p' "$release")
    major=${v:-0}
    if [ "$major" -ge 25 ] && [ "$major" -gt "$best_major" ]; then
      best="$home"; best_major=$major
    fi
  done
  if [ -z "$best" ]; then
    echo "featurefuse needs JDK 25 or newer and found none (looked in JAVA_HOME, /usr/lib/jvm and the java on PATH); install one, e.g. Temurin 25." >&2
    return 1
  fi
  JDK25="$best"
}

# The flags every JVM running featurefuse needs.
FEATUREFUSE_JVM_FLAGS=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
