#!/usr/bin/env bash
# Java SGEMM (fuse bench) against NumPy's sgemm on OpenBLAS, in one invocation, at the same sizes
# and thread count. The two sides take turns for several rounds, because this machine's second
# core is often busy elsewhere; the table shows the best and the median of each side and their
# ratio, and benchmarks/results/gemm-vs-numpy.json keeps them.
#
#   benchmarks/gemm-vs-numpy.sh [--threads N] [--rounds R] [--sizes 256,1024,2048]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
threads=$(nproc); rounds=3; sizes=256,1024,2048
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    *) echo "gemm-vs-numpy: unknown option '$1'; the options are --threads, --rounds, --sizes" >&2; exit 2 ;;
  esac
done

py=/usr/bin/python3   # Debian's python sees Debian's numpy
have_numpy() { "$py" -c 'import numpy, threadpoolctl' >/dev/null 2>&1 && [ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ]; }
if ! have_numpy; then
  echo "gemm-vs-numpy: installing Debian's python3-numpy, libopenblas0-pthread and python3-threadpoolctl for the NumPy side..." >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq >/dev/null && $sudo_ apt-get install -y -qq python3-numpy libopenblas0-pthread python3-threadpoolctl >/dev/null \
    || { echo "gemm-vs-numpy: could not install NumPy with OpenBLAS; install python3-numpy and libopenblas0-pthread, then run again." >&2; exit 2; }
fi

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat > "$work/numpy_gemm.py" <<'PY'
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info
sizes = [int(s) for s in sys.argv[1].split(",")]; threads = int(sys.argv[2])
blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
info = blas[0] if blas else {}
if info.get("internal_api") != "openblas":
    sys.exit("numpy does not use OpenBLAS here (%s); install libopenblas0-pthread" % info.get("internal_api"))
def per_call(f, seconds):
    t0 = time.perf_counter(); calls = 0
    while True:
        f(); calls += 1
        t = time.perf_counter() - t0
        if t >= seconds: return t / calls
for n in sizes:
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32); b = rng.uniform(-1, 1, (n, n)).astype(np.float32); c = np.empty((n, n), np.float32)
    f = lambda: np.matmul(a, b, out=c)
    per_call(f, 0.3)
    rates = sorted(2 * n ** 3 / per_call(f, 0.3) / 1e9 for _ in range(3))
    print(json.dumps({"name": "sgemm n=%d" % n, "unit": "GFLOP/s", "best": rates[-1], "median": rates[len(rates) // 2],
                      "threads": info.get("num_threads"), "kernel": "OpenBLAS %s %s" % (info.get("version"), info.get("architecture"))}), flush=True)
PY

echo "SGEMM, $threads thread(s), $rounds rounds, sizes $sizes: featurefuse (fuse bench) vs NumPy/OpenBLAS, taking turns" >&2
"$root/fuse" version >&2
for r in $(seq "$rounds"); do
  echo "  round $r/$rounds: featurefuse..." >&2
  "$root/fuse" bench --only sgemm --sizes "$sizes" --threads "$threads" --samples 3 --seconds 0.3 --json >> "$work/java.jsonl"
  echo "  round $r/$rounds: numpy..." >&2
  # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be pinned on this machine for old OpenBLAS builds; they slow a
  # current one, so they are unset for this command alone.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" \
    "$py" "$work/numpy_gemm.py" "$sizes" "$threads" >> "$work/numpy.jsonl"
done

mkdir -p "$root/benchmarks/results"
"$py" - "$work/java.jsonl" "$work/numpy.jsonl" "$threads" "$root/benchmarks/results/gemm-vs-numpy.json" <<'PY'
import json, statistics, sys
def load(path):
    rows = {}
    for line in open(path):
        r = json.loads(line); rows.setdefault(r["name"], []).append(r)
    return rows
java, npy, threads, out = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
kernel = next(iter(npy.values()))[0]["kernel"] if npy else "?"
print("%-14s %21s %21s %15s" % ("", "featurefuse GFLOP/s", "NumPy GFLOP/s", "ratio"))
print("%-14s %10s %10s %10s %10s %7s %7s" % ("work", "best", "median", "best", "median", "best", "median"))
results = []
for name, js in java.items():
    ns = npy.get(name, [])
    jb, jm = max(r["best"] for r in js), statistics.median(r["median"] for r in js)
    nb, nm = max(r["best"] for r in ns), statistics.median(r["median"] for r in ns)
    print("%-14s %10.1f %10.1f %10.1f %10.1f %6.2fx %6.2fx" % (name, jb, jm, nb, nm, jb / nb, jm / nm))
    results.append({"name": name, "unit": "GFLOP/s", "featurefuse": {"best": jb, "median": jm},
                    "numpy_openblas": {"best": nb, "median": nm}, "ratio_best": jb / nb, "ratio_median": jm / nm})
print("threads: %d; NumPy side: %s; ratio = featurefuse / NumPy" % (threads, kernel))
json.dump({"threads": threads, "numpy_kernel": kernel, "rows": results}, open(out, "w"), indent=1)
print("written: " + out)
PY
