#!/usr/bin/env bash
# SGEMM at n = 256, 1024, 2048 against PyTorch and NumPy (both on OpenBLAS), same sizes and threads:
# the SGEMM rows of side-by-side.sh. Options as side-by-side.sh (--threads N, --rounds R, --sizes a,b,c).
exec "$(dirname "$(readlink -f "$0")")/side-by-side.sh" --only sgemm "$@"
