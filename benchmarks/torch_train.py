#!/usr/bin/python3
"""The PyTorch side of benchmarks/accuracy-parity.sh: trains a preset (models from tools/golden_models.py,
the reference recipe: SGD momentum 0.9 Nesterov, lr 0.05, weight decay 5e-4, cosine per step, batch 128,
normalise 0.2860/0.3530) and prints one JSON line: test accuracy, training images/s, peak RSS. With
--check-weights F it instead evaluates weights saved by featurefuse, to show that they load and score
the same in PyTorch."""
import argparse, gzip, json, math, os, resource, struct, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from golden_models import Classifier  # noqa: E402


def idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return torch.frombuffer(bytearray(data[4 + 4 * rank:]), dtype=torch.uint8).reshape(dims)


def split(folder, name):
    for suffix in (".gz", ""):
        p = os.path.join(folder, name + suffix)
        if os.path.exists(p):
            return idx(p)
    raise SystemExit(f"torch_train: {folder} has no {name}[.gz]")


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    kinds = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=kinds[v["dtype"]]).reshape(v["shape"]).clone()
    return out


def accuracy(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 500):
            correct += (model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum().item()
    return correct / len(x)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet_a")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--limit", type=int, default=60000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--check-weights")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    norm = lambda t: t.float().div(255).sub(0.2860).div(0.3530).unsqueeze(1)
    xte, yte = norm(split(a.data, "t10k-images-idx3-ubyte")), split(a.data, "t10k-labels-idx1-ubyte").long()
    if a.check_weights:
        m = Classifier(a.model)
        m.load_state_dict(load_safetensors(a.check_weights), strict=True)
        print(json.dumps({"model": a.model, "side": "torch evaluating featurefuse weights", "test_acc": accuracy(m, xte, yte)}))
        return
    xtr = norm(split(a.data, "train-images-idx3-ubyte")[:a.limit])
    ytr = split(a.data, "train-labels-idx1-ubyte")[:a.limit].long()
    torch.manual_seed(0)
    m = Classifier(a.model)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = a.epochs * math.ceil(len(xtr) / 128)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    train_s = 0.0
    for _ in range(a.epochs):
        m.train()
        perm = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        for i in range(0, len(xtr), 128):
            j = perm[i:i + 128]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(m(xtr[j]), ytr[j]).backward()
            opt.step()
            sched.step()
        train_s += time.perf_counter() - t0
    print(json.dumps({"model": a.model, "side": "pytorch " + torch.__version__, "threads": a.threads, "epochs": a.epochs,
                      "train_images": len(xtr), "test_acc": accuracy(m, xte, yte),
                      "images_per_s": a.epochs * len(xtr) / train_s,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
