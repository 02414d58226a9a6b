#!/usr/bin/env bash
# Accuracy and training speed of the presets, featurefuse against PyTorch on this machine with the
# same recipe, data and thread count: each model is trained by `fuse train` and by
# benchmarks/torch_train.py (one after the other, never at once), the saved featurefuse weights
# are scored again by PyTorch, and peak RSS is read from /usr/bin/time. The full run (Fashion-MNIST
# 60k/10k, 10 epochs, two models) takes about an hour on 2 cores.
#
#   benchmarks/accuracy-parity.sh [--models resnet_a,vgg_b] [--epochs 10] [--threads 2] [--limit 60000]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
models=resnet_a,vgg_b; epochs=10; threads=2; limit=60000
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --limit) limit="$2"; shift 2 ;;
    *) echo "accuracy-parity: unknown option '$1'; the options are --models, --epochs, --threads, --limit" >&2; exit 2 ;;
  esac
done
data=/usr/share/datasets/fashion-mnist
py=/usr/bin/python3   # Debian's python sees Debian's torch
need=()
[ -e "$data/train-images-idx3-ubyte.gz" ] || need+=(dataset-fashion-mnist)
"$py" -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "accuracy-parity: installing Debian's ${need[*]}..." >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq >/dev/null && $sudo_ apt-get install -y -qq "${need[@]}" >/dev/null
fi
out="$root/benchmarks/results"; mkdir -p "$out"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$root/fuse" version >&2   # builds first, so the build is not timed
rows=()
for m in ${models//,/ }; do
  echo "accuracy-parity: $m, featurefuse..." >&2
  /usr/bin/time -f '%M' -o "$work/$m.rss" "$root/fuse" train --model "$m" --data "$data" --epochs "$epochs" --limit "$limit" \
    --threads "$threads" --save "$work/$m.safetensors" --json > "$work/$m.ff.json"
  ff=$(cat "$work/$m.ff.json"); ff_rss=$(( $(cat "$work/$m.rss") / 1024 ))
  back=$("$py" "$root/benchmarks/torch_train.py" --model "$m" --data "$data" --check-weights "$work/$m.safetensors")
  echo "accuracy-parity: $m, PyTorch..." >&2
  pt=$("$py" "$root/benchmarks/torch_train.py" --model "$m" --data "$data" --epochs "$epochs" --limit "$limit" --threads "$threads")
  rows+=("{\"model\":\"$m\",\"featurefuse\":$ff,\"featurefuse_peak_rss_mb\":$ff_rss,\"featurefuse_weights_in_pytorch\":$back,\"pytorch\":$pt}")
done
json="{\"epochs\":$epochs,\"threads\":$threads,\"train_images\":$limit,\"runs\":[$(IFS=,; echo "${rows[*]}")]}"
echo "$json" > "$out/accuracy-parity.json"
"$py" - "$out/accuracy-parity.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['epochs']} epochs, {r['train_images']} training images, {r['threads']} threads")
print(f"{'model':10} {'ff acc':>8} {'torch acc':>9} {'ff img/s':>9} {'torch img/s':>11} {'ff RSS MB':>9} {'torch RSS MB':>12} {'ff weights in torch':>19}")
for x in r["runs"]:
    f, t = x["featurefuse"], x["pytorch"]
    print(f"{x['model']:10} {f['test_acc']:8.4f} {t['test_acc']:9.4f} {f['images_per_s']:9.0f} {t['images_per_s']:11.0f} "
          f"{x['featurefuse_peak_rss_mb']:9.0f} {t['peak_rss_mb']:12.0f} {x['featurefuse_weights_in_pytorch']['test_acc']:19.4f}")
PY
