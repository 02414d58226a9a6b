#!/usr/bin/env python3
"""Writes the Fashion-MNIST subset that ships in data/fashion-mnist: the first 10,000 training and
first 2,000 test images (with their labels) of the official files, as gzip IDX with corrected counts.
Usage: tools/fmnist_subset.py [SRC_DIR] [DST_DIR]   (SRC_DIR defaults to Debian's dataset-fashion-mnist)"""
import gzip, struct, sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
DST = sys.argv[2] if len(sys.argv) > 2 else "data/fashion-mnist"
KEEP = {"train": 10_000, "t10k": 2_000}

def cut(name, n):
    with gzip.open(f"{SRC}/{name}", "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    rank = magic & 0xFF
    dims = list(struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank]))
    item = 1
    for d in dims[1:]:
        item *= d
    body = raw[4 + 4 * rank: 4 + 4 * rank + n * item]
    dims[0] = n
    # mtime=0 keeps the output byte-identical from run to run
    with gzip.GzipFile(f"{DST}/{name}", "wb", compresslevel=9, mtime=0) as f:
        f.write(struct.pack(">I", magic) + struct.pack(">" + "I" * rank, *dims) + body)

for split, n in KEEP.items():
    for kind in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"):
        cut(f"{split}-{kind}", n)
