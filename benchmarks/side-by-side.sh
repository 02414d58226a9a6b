#!/usr/bin/env bash
# featurefuse against the reference libraries, in one invocation, at the same shapes and thread
# count (set explicitly on both sides): SGEMM against PyTorch (torch.mm) and against NumPy, both on
# OpenBLAS, and the CNN op shapes of `fuse bench --only ops` (conv 3x3 / 1x1 / 5x5 / depthwise
# forward and forward+backward, batch norm, max pool, bilinear resize), the element-wise add of 16M
# floats of `fuse bench --only add` (same shape, and a row broadcast) and the reference two-stream
# model (concat: a training step at batch 128, inference at batch 256, each in images/s; the peak
# RSS of 20 training steps and the time from process start to the first finished step, each in a
# fresh process) against PyTorch on the CPU, the longest GC pause in 10 s of steady training (the
# worst over the rounds; featurefuse alone), plus this machine's FMA peak through the Vector API so
# that every GFLOP/s figure is also a fraction of peak. The sides take turns for several rounds,
# because this machine's second core is often busy elsewhere; the table shows the best and the
# median of each side and their ratio (>1 means featurefuse is better: faster, or smaller where
# lower is better), and benchmarks/results/latest.json keeps per row: name, unit, featurefuse,
# pytorch, ratio (against PyTorch), for SGEMM also numpy and ratio_numpy, and which CPU ran it (cpu).
#
#   benchmarks/side-by-side.sh [--threads N] [--rounds R] [--sizes 256,1024,2048] [--only sgemm|ops|model]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
threads=$(nproc); rounds=3; sizes=256,1024,2048; only=all
gc_window=10   # seconds of steady training the GC-pause row watches each round
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "side-by-side: unknown option '$1'; the options are --threads, --rounds, --sizes, --only" >&2; exit 2 ;;
  esac
done

case "$only" in all|sgemm|ops|model) ;; *) echo "side-by-side: --only takes sgemm, ops or model, not '$only'" >&2; exit 2 ;; esac
py=/usr/bin/python3   # Debian's python sees Debian's numpy and torch
have_numpy() { "$py" -c 'import numpy, threadpoolctl' >/dev/null 2>&1 && [ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ]; }
have_torch() { "$py" -c 'import torch' >/dev/null 2>&1; }
need=()
if [ "$only" != ops ] && ! have_numpy; then need+=(python3-numpy libopenblas0-pthread python3-threadpoolctl); fi
if ! have_torch; then need+=(python3-torch); fi
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

# The same products through PyTorch (torch.mm into an existing tensor): the issue's rows are featurefuse
# against PyTorch, SGEMM against NumPy/OpenBLAS too. Debian's PyTorch calls the same OpenBLAS for it.
cat > "$work/torch_gemm.py" <<'PY'
import sys
import torch
from timing import report
sizes = [int(s) for s in sys.argv[1].split(",")]; threads = int(sys.argv[2]); torch.set_num_threads(threads)
for n in sizes:
    g = torch.Generator().manual_seed(1)
    a = torch.rand(n, n, generator=g) * 2 - 1; b = torch.rand(n, n, generator=g) * 2 - 1; c = torch.empty(n, n)
    report("sgemm n=%d" % n, "GFLOP/s", 2.0 * n ** 3, lambda: torch.mm(a, b, out=c), torch.get_num_threads(), "PyTorch " + torch.__version__)
PY

cat > "$work/torch_ops.py" <<'PY'
import sys
import torch, torch.nn.functional as F
import timing
threads = int(sys.argv[1]); torch.set_num_threads(threads); torch.manual_seed(7)
def report(name, unit, work, f):
    timing.report(name, unit, work, f, torch.get_num_threads(), "PyTorch " + torch.__version__)
# forward and backward of f on a copy of x that requires a gradient, the gradient up flowing back;
# params (weights that require one) have theirs dropped before each call, as OpBenchmarks.forwardBackward
def fwd_bwd(name, unit, work, x, up, f, params=()):
    xg = x.clone().requires_grad_(True)
    def fb():
        xg.grad = None
        for q in params: q.grad = None
        f(xg).backward(up)
    report(name, unit, work, fb)
def conv(name, n, c, k, hw, ks, pad, groups):
    x = torch.randn(n, c, hw, hw); w = torch.randn(k, c // groups, ks, ks); up = torch.randn(n, k, hw, hw)
    flops = 2.0 * n * k * hw * hw * (c // groups) * ks * ks
    with torch.no_grad():
        report(name + " fwd", "GFLOP/s", flops, lambda: F.conv2d(x, w, None, 1, pad, 1, groups))
    wg = w.clone().requires_grad_(True)
    fwd_bwd(name + " fwd+bwd", "GFLOP/s", 3 * flops, x, up, lambda t: F.conv2d(t, wg, None, 1, pad, 1, groups), (wg,))
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
    # c = a + b into an existing c, as fuse bench's add rows: bytes read and written (a, b or its row, c)
    a = torch.rand(4096, 4096); b = torch.rand(4096, 4096); row = torch.rand(4096); c = torch.empty(4096, 4096)
    report("add 16M floats", "GB/s", 4.0 * 3 * a.numel(), lambda: torch.add(a, b, out=c))
    report("add 16M floats, row broadcast", "GB/s", 4.0 * (2 * a.numel() + row.numel()), lambda: torch.add(a, row, out=c))
# forward and backward, in the bytes fuse bench counts (OpBenchmarks: each pass reads and writes its tensors once)
gg = torch.ones(64, requires_grad=True); bg = torch.zeros(64, requires_grad=True)
fwd_bwd("batchnorm train 64x14x14 b128 fwd+bwd", "GB/s", 5.0 * 4 * x.numel(), x, torch.randn(128, 64, 14, 14),
        lambda t: F.batch_norm(t, rm, rv, gg, bg, True, 0.1, 1e-5), (gg, bg))
fwd_bwd("maxpool2x2 32x28x28 b128 fwd+bwd", "GB/s", 2 * 4.0 * p.numel() * 1.25, p, torch.randn(128, 32, 14, 14), lambda t: F.max_pool2d(t, 2))
fwd_bwd("bilinear 96x7x7->14x14 b128 fwd+bwd", "GB/s", 2 * 4.0 * r.numel() * 5, r, torch.randn(128, 96, 14, 14),
        lambda t: F.interpolate(t, size=(14, 14), mode="bilinear", align_corners=False))
PY

cat > "$work/torch_model.py" <<'PY'
import os, resource, sys, time
import torch, torch.nn.functional as F
sys.path.insert(0, sys.argv[3])
from golden_models import TwoStream
import timing
what, threads = sys.argv[1], int(sys.argv[2]); torch.set_num_threads(threads); torch.manual_seed(0)
def model_and_step(batch):
    m = TwoStream("concat")
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(batch, 1, 28, 28); y = torch.arange(batch) % 10
    def step():
        opt.zero_grad(set_to_none=True); F.cross_entropy(m(x), y).backward(); opt.step()
    return m, step
def row(name, unit, value):
    print('{"name": "%s", "unit": "%s", "best": %.3f, "median": %.3f, "threads": %d, "kernel": "PyTorch %s"}'
          % (name, unit, value, value, torch.get_num_threads(), torch.__version__), flush=True)
if what == "first-step":
    # process start from /proc: clock ticks since boot, against the uptime now
    ticks = os.sysconf("SC_CLK_TCK"); start = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19]) / ticks
    m, step = model_and_step(128); step()
    row("JVM start to first train step b128", "s", float(open("/proc/uptime").read().split()[0]) - start)
elif what == "train-rss":
    m, step = model_and_step(128)
    for _ in range(20): step()
    row("peak RSS of training b128", "MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
else:
    m, step = model_and_step(128)
    timing.report("two-stream concat train step b128", "img/s", 128e9, step, torch.get_num_threads(), "PyTorch " + torch.__version__)
    m.eval(); xi = torch.randn(256, 1, 28, 28)
    with torch.no_grad():
        timing.report("two-stream concat inference b256", "img/s", 256e9, lambda: m(xi), torch.get_num_threads(), "PyTorch " + torch.__version__)
PY

echo "featurefuse vs PyTorch (SGEMM, CNN ops, the two-stream model) and NumPy/OpenBLAS (SGEMM), $threads thread(s), $rounds rounds, taking turns" >&2
"$root/fuse" version >&2
touch "$work/java.jsonl" "$work/ref.jsonl" "$work/numpy.jsonl"
for r in $(seq "$rounds"); do
  if [ "$only" = all ] || [ "$only" = sgemm ]; then
    echo "  round $r/$rounds: featurefuse sgemm..." >&2
    "$root/fuse" bench --only sgemm --sizes "$sizes" --threads "$threads" --samples 3 --seconds 0.3 --json >> "$work/java.jsonl"
    if have_numpy; then
      echo "  round $r/$rounds: numpy sgemm..." >&2
      # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be pinned on this machine for old OpenBLAS builds; they slow a
      # current one, so they are unset for this command alone.
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" \
        "$py" "$work/numpy_gemm.py" "$sizes" "$threads" >> "$work/numpy.jsonl"
    fi
    if have_torch; then
      echo "  round $r/$rounds: pytorch sgemm..." >&2
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" PYTHONPATH="$work" \
        "$py" "$work/torch_gemm.py" "$sizes" "$threads" >> "$work/ref.jsonl"
    fi
  fi
  if [ "$only" = all ] || [ "$only" = model ]; then
    echo "  round $r/$rounds: featurefuse model..." >&2
    "$root/fuse" bench --only model --threads "$threads" --samples 3 --seconds 1 --json >> "$work/java.jsonl"
    "$root/fuse" bench --only peak --threads "$threads" --samples 3 --seconds 0.3 --json >> "$work/java.jsonl"
    "$root/fuse" bench --only first-step --threads "$threads" --json >> "$work/java.jsonl"
    "$root/fuse" bench --only train-rss --threads "$threads" --samples 20 --json >> "$work/java.jsonl"
    "$root/fuse" bench --only gc-pauses --threads "$threads" --seconds "$gc_window" --json >> "$work/java.jsonl"
    if have_torch; then
      echo "  round $r/$rounds: pytorch model..." >&2
      for w in model first-step train-rss; do
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" PYTHONPATH="$work" \
          "$py" "$work/torch_model.py" "$w" "$threads" "$root/tools" >> "$work/ref.jsonl"
      done
    fi
  fi
  if [ "$only" = all ] || [ "$only" = ops ]; then
    echo "  round $r/$rounds: featurefuse ops..." >&2
    "$root/fuse" bench --only ops --threads "$threads" --samples 3 --seconds 0.3 --json >> "$work/java.jsonl"
    "$root/fuse" bench --only add --threads "$threads" --samples 3 --seconds 0.3 --json >> "$work/java.jsonl"
    if have_torch; then
      echo "  round $r/$rounds: pytorch ops..." >&2
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" "$py" "$work/torch_ops.py" "$threads" >> "$work/ref.jsonl"
    fi
  fi
done

mkdir -p "$root/benchmarks/results"
"$py" - "$work/java.jsonl" "$work/ref.jsonl" "$work/numpy.jsonl" "$threads" "$root/benchmarks/results/latest.json" "$gc_window" <<'PY'
import json, statistics, sys
LOWER_IS_BETTER = {"s", "MB", "ms"}
# Rows whose figure over the rounds is the worst, not the best: a limit that must hold every time
WORST_OVER_ROUNDS = {"longest GC pause, steady training b128"}
def load(path):
    rows = {}
    for line in open(path):
        r = json.loads(line); rows.setdefault(r["name"], []).append(r)
    return rows
# ref: PyTorch's rows; numpy: NumPy/OpenBLAS's SGEMM rows, a second reference beside PyTorch's
java, ref, numpy, threads, out = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
gc_window = float(sys.argv[6])
kernels = sorted({r[0]["kernel"] for r in list(ref.values()) + list(numpy.values())})
def cpu():
    # The first processor's entry: this project's runs land on different CPUs (AMD Zen 5, Intel
    # Xeon), whose ratios differ, so every table and results file says which one it came from.
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            if not line.strip(): break
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    import os, platform
    name = info.get("model name") or platform.processor() or "unknown CPU"
    ids = " ".join(x for x in (info.get("vendor_id"), info.get("cpu family") and "family " + info["cpu family"],
                               info.get("model") and "model " + info["model"]) if x)
    return "%s%s, %d logical CPUs" % (name, " (%s)" % ids if ids else "", os.cpu_count() or 0)
machine = cpu()
print("%-38s %-8s %19s %19s %15s" % ("", "", "featurefuse", "reference", "ratio"))
print("%-38s %-8s %9s %9s %9s %9s %7s %7s" % ("work", "unit", "best", "median", "best", "median", "best", "median"))
results = []
peak = java.get("FMA peak (Vector API)")
peak = max(r["best"] for r in peak) if peak else None
for name, js in java.items():
    ns = ref.get(name, [])
    low = js[0]["unit"] in LOWER_IS_BETTER
    best = min if low else max
    jb, jm = (max if name in WORST_OVER_ROUNDS else best)(r["best"] for r in js), statistics.median(r["median"] for r in js)
    row = {"name": name, "unit": js[0]["unit"], "featurefuse": jb, "featurefuse_median": jm, "lower_is_better": low}
    if name in WORST_OVER_ROUNDS:
        row["worst_over_rounds"] = True
    if peak and js[0]["unit"] == "GFLOP/s" and name != "FMA peak (Vector API)":
        row["featurefuse_fraction_of_peak"] = jb / peak
    if ns:
        nb, nm = best(r["best"] for r in ns), statistics.median(r["median"] for r in ns)
        ratio, ratio_m = (nb / jb, nm / jm) if low else (jb / nb, jm / nm)
        row.update({"reference": ns[0]["kernel"], "pytorch": nb, "pytorch_median": nm,
                    "reference_best": nb, "reference_median": nm, "ratio": ratio, "ratio_median": ratio_m})
        if peak and js[0]["unit"] == "GFLOP/s":
            row["reference_fraction_of_peak"] = nb / peak
        print("%-38s %-8s %9.2f %9.2f %9.2f %9.2f %6.2fx %6.2fx" % (name, js[0]["unit"], jb, jm, nb, nm, ratio, ratio_m))
    else:
        print("%-38s %-8s %9.2f %9.2f %9s %9s %7s %7s" % (name, js[0]["unit"], jb, jm, "-", "-", "-", "-"))
    np_ = numpy.get(name, [])
    if np_:
        # the second reference, on its own line of the table and under its own keys
        nb, nm = best(r["best"] for r in np_), statistics.median(r["median"] for r in np_)
        row.update({"numpy_kernel": np_[0]["kernel"], "numpy": nb, "numpy_median": nm,
                    "ratio_numpy": jb / nb, "ratio_numpy_median": jm / nm})
        if peak:
            row["numpy_fraction_of_peak"] = nb / peak
        print("%-38s %-8s %9s %9s %9.2f %9.2f %6.2fx %6.2fx" % ("  same, against NumPy/OpenBLAS", js[0]["unit"], "", "", nb, nm, jb / nb, jm / nm))
    results.append(row)
print("threads: %d (both sides); reference: %s; ratio > 1: featurefuse better (rate / rate, or cost / cost for s and MB),"
      " best of best and median of medians over the rounds" % (threads, ", ".join(kernels) if kernels else "not installed"))
print("cpu: " + machine)
for name in WORST_OVER_ROUNDS & java.keys():
    print("%s: the longest over %d rounds of %g s of steady training (the issue's limit: 10 ms; PyTorch has no collector)"
          % (name, len(java[name]), gc_window))
if peak:
    print("FMA peak (Vector API, %d threads): %.1f GFLOP/s; as a fraction of it:" % (threads, peak))
    for row in results:
        if "featurefuse_fraction_of_peak" in row:
            print("  %-36s featurefuse %4.0f%%   reference %s%s" % (row["name"], 100 * row["featurefuse_fraction_of_peak"],
                  "%4.0f%%" % (100 * row["reference_fraction_of_peak"]) if "reference_fraction_of_peak" in row else "-",
                  "   numpy %4.0f%%" % (100 * row["numpy_fraction_of_peak"]) if "numpy_fraction_of_peak" in row else ""))
json.dump({"threads": threads, "cpu": machine, "reference": kernels, "fma_peak_gflops": peak, "rows": results}, open(out, "w"), indent=1)
print("written: " + out)
PY
