#!/usr/bin/env bash
# featurefuse against the reference libraries, in one invocation, at the same shapes and thread
# count (set explicitly on both sides): SGEMM against NumPy on OpenBLAS, and the CNN op shapes of
# `fuse bench --only ops` (conv 3x3 / 1x1 / 5x5 / depthwise forward and forward+backward, batch
# norm, max pool, bilinear resize) against PyTorch on the CPU. The sides take turns for several
# rounds, because this machine's second core is often busy elsewhere; the table shows the best
# and the median of each side and their ratio, and benchmarks/results/side-by-side.json keeps them.
#
#   benchmarks/side-by-side.sh [--threads N] [--rounds R] [--sizes 256,1024,2048] [--only sgemm|ops]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
threads=$(nproc); rounds=3; sizes=256,1024,2048; only=all
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "side-by-side: unknown option '$1'; the options are --threads, --rounds, --sizes, --only" >&2; exit 2 ;;
  esac
done

case "$only" in all|sgemm|ops) ;; *) echo "side-by-side: --only takes sgemm or ops, not '$only'" >&2; exit 2 ;; esac
py=/usr/bin/python3   # Debian's python sees Debian's numpy and torch
have_numpy() { "$py" -c 'import numpy, threadpoolctl' >/dev/null 2>&1 && [ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ]; }
have_torch() { "$py" -c 'import torch' >/dev/null 2>&1; }
need=()
if [ "$only" != ops ] && ! have_numpy; then need+=(python3-numpy libopenblas0-pthread python3-threadpoolctl); fi
if [ "$only" != sgemm ] && ! have_torch; then need+=(python3-torch); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "side-by-side: installing Debian's ${need[*]} for the reference side..." >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq >/dev/null && $sudo_ apt-get install -y -qq "${need[@]}" >/dev/null \
    || echo "side-by-side: could not install ${need[*]}; the rows that need them show featurefuse alone." >&2
fi

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# The reference side's timing, shared by both scripts: warm up, then 3 samples of >= 0.3 s each.
cat > "$work/timing.py" <<'PY'
import json, time
def per_call(f, seconds):
    t0 = time.perf_counter(); calls = 0
    while True:
        f(); calls += 1
        t = time.perf_counter() - t0
        if t >= seconds: return t / calls
def report(name, unit, work, f, threads, kernel):
    per_call(f, 0.3)
    rates = sorted(work / per_call(f, 0.3) / 1e9 for _ in range(3))
    print(json.dumps({"name": name, "unit": unit, "best": rates[-1], "median": rates[1], "threads": threads, "kernel": kernel}), flush=True)
PY

cat > "$work/numpy_gemm.py" <<'PY'
import sys
import numpy as np
from timing import report
from threadpoolctl import threadpool_info
sizes = [int(s) for s in sys.argv[1].split(",")]; threads = int(sys.argv[2])
blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
info = blas[0] if blas else {}
if info.get("internal_api") != "openblas":
    sys.exit("numpy does not use OpenBLAS here (%s); install libopenblas0-pthread" % info.get("internal_api"))
for n in sizes:
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32); b = rng.uniform(-1, 1, (n, n)).astype(np.float32); c = np.empty((n, n), np.float32)
    report("sgemm n=%d" % n, "GFLOP/s", 2.0 * n ** 3, lambda: np.matmul(a, b, out=c), info.get("num_threads"),
           "OpenBLAS %s %s" % (info.get("version"), info.get("architecture")))
PY

cat > "$work/torch_ops.py" <<'PY'
import sys
import torch, torch.nn.functional as F
import timing
threads = int(sys.argv[1]); torch.set_num_threads(threads); torch.manual_seed(7)
def report(name, unit, work, f):
    timing.report(name, unit, work, f, torch.get_num_threads(), "PyTorch " + torch.__version__)
def conv(name, n, c, k, hw, ks, pad, groups):
    x = torch.randn(n, c, hw, hw); w = torch.randn(k, c // groups, ks, ks); up = torch.randn(n, k, hw, hw)
    flops = 2.0 * n * k * hw * hw * (c // groups) * ks * ks
    with torch.no_grad():
        report(name + " fwd", "GFLOP/s", flops, lambda: F.conv2d(x, w, None, 1, pad, 1, groups))
    xg = x.clone().requires_grad_(True); wg = w.clone().requires_grad_(True)
    def fb():
        xg.grad = None; wg.grad = None
        F.conv2d(xg, wg, None, 1, pad, 1, groups).backward(up)
    report(name + " fwd+bwd", "GFLOP/s", 3 * flops, fb)
conv("conv3x3 64->64 14x14 b128", 128, 64, 64, 14, 3, 1, 1)
conv("conv3x3 32->32 28x28 b128", 128, 32, 32, 28, 3, 1, 1)
conv("conv1x1 160->128 14x14 b128", 128, 160, 128, 14, 1, 0, 1)
conv("conv5x5 1->32 28x28 b128", 128, 1, 32, 28, 5, 2, 1)
conv("depthwise3x3 64 14x14 b128", 128, 64, 64, 14, 3, 1, 64)
with torch.no_grad():
    x = torch.randn(128, 64, 14, 14); g = torch.ones(64); b = torch.zeros(64); rm = torch.zeros(64); rv = torch.ones(64)
    report("batchnorm train 64x14x14 b128 fwd", "GB/s", 2.0 * 4 * x.numel(), lambda: F.batch_norm(x, rm, rv, g, b, True, 0.1, 1e-5))
    p = torch.randn(128, 32, 28, 28)
    report("maxpool2x2 32x28x28 b128 fwd", "GB/s", 4.0 * p.numel() * 1.25, lambda: F.max_pool2d(p, 2))
    r = torch.randn(128, 96, 7, 7)
    report("bilinear 96x7x7->14x14 b128 fwd", "GB/s", 4.0 * r.numel() * 5,
           lambda: F.interpolate(r, size=(14, 14), mode="bilinear", align_corners=False))
PY

echo "featurefuse vs NumPy/OpenBLAS (SGEMM) and PyTorch (CNN ops), $threads thread(s), $rounds rounds, taking turns" >&2
"$root/fuse" version >&2
touch "$work/java.jsonl" "$work/ref.jsonl"
for r in $(seq "$rounds"); do
  if [ "$only" != ops ]; then
    echo "  round $r/$rounds: featurefuse sgemm..." >&2
    "$root/fuse" bench --only sgemm --sizes "$sizes" --threads "$threads" --samples 3 --seconds 0.3 --json >> "$work/java.jsonl"
    if have_numpy; then
      echo "  round $r/$rounds: numpy sgemm..." >&2
      # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be pinned on this machine for old OpenBLAS builds; they slow a
      # current one, so they are unset for this command alone.
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" \
        "$py" "$work/numpy_gemm.py" "$sizes" "$threads" >> "$work/ref.jsonl"
    fi
  fi
  if [ "$only" != sgemm ]; then
    echo "  round $r/$rounds: featurefuse ops..." >&2
    "$root/fuse" bench --only ops --threads "$threads" --samples 3 --seconds 0.3 --json >> "$work/java.jsonl"
    if have_torch; then
      echo "  round $r/$rounds: pytorch ops..." >&2
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" "$py" "$work/torch_ops.py" "$threads" >> "$work/ref.jsonl"
    fi
  fi
done

mkdir -p "$root/benchmarks/results"
"$py" - "$work/java.jsonl" "$work/ref.jsonl" "$threads" "$root/benchmarks/results/side-by-side.json" <<'PY'
import json, statistics, sys
def load(path):
    rows = {}
    for line in open(path):
        r = json.loads(line); rows.setdefault(r["name"], []).append(r)
    return rows
java, ref, threads, out = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
kernels = sorted({r[0]["kernel"] for r in ref.values()})
print("%-38s %-8s %19s %19s %15s" % ("", "", "featurefuse", "reference", "ratio"))
print("%-38s %-8s %9s %9s %9s %9s %7s %7s" % ("work", "unit", "best", "median", "best", "median", "best", "median"))
results = []
for name, js in java.items():
    ns = ref.get(name, [])
    jb, jm = max(r["best"] for r in js), statistics.median(r["median"] for r in js)
    row = {"name": name, "unit": js[0]["unit"], "featurefuse": jb, "featurefuse_median": jm}
    if ns:
        nb, nm = max(r["best"] for r in ns), statistics.median(r["median"] for r in ns)
        row.update({"reference": ns[0]["kernel"], "pytorch" if "PyTorch" in ns[0]["kernel"] else "numpy": nb,
                    "reference_best": nb, "reference_median": nm, "ratio": jb / nb, "ratio_median": jm / nm})
        print("%-38s %-8s %9.2f %9.2f %9.2f %9.2f %6.2fx %6.2fx" % (name, js[0]["unit"], jb, jm, nb, nm, jb / nb, jm / nm))
    else:
        print("%-38s %-8s %9.2f %9.2f %9s %9s %7s %7s" % (name, js[0]["unit"], jb, jm, "-", "-", "-", "-"))
    results.append(row)
print("threads: %d (both sides); reference: %s; ratio = featurefuse / reference, best of best and median of medians over the rounds"
      % (threads, ", ".join(kernels) if kernels else "not installed"))
json.dump({"threads": threads, "reference": kernels, "rows": results}, open(out, "w"), indent=1)
print("written: " + out)
PY
