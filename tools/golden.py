#!/usr/bin/python3
"""Writes the golden files the engine's tests compare against: random float64 inputs, PyTorch's
outputs and gradients (for a random upstream gradient), ~20 configurations per op, one
safetensors file per op under engine/src/test/resources/golden/. Each configuration i has
tensors "i.<name>" and a metadata entry "i" holding its parameters as JSON.

Run with Debian's python3-torch:  /usr/bin/python3 tools/golden.py   (CI does not need PyTorch)."""
import json, os, random, struct, sys
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "engine", "src", "test", "resources", "golden")
torch.set_default_dtype(torch.float64)


def save(path, tensors, metadata):
    """safetensors, written here so that the script needs PyTorch only."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().to(torch.float64)
        data = struct.pack("<%dd" % t.numel(), *t.flatten().tolist())
        header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def run(op, configs, fn):
    """fn(config, rng) -> dict of inputs (leaf tensors needing grad named with a g prefix in the result), output."""
    tensors, meta = {}, {}
    for i, cfg in enumerate(configs):
        inputs, out = fn(cfg)
        gout = torch.randn(out.shape)
        out.backward(gout)
        for name, t in inputs.items():
            tensors["%d.%s" % (i, name)] = t
            if t.requires_grad:
                tensors["%d.g%s" % (i, name)] = t.grad
        tensors["%d.out" % i] = out
        tensors["%d.gout" % i] = gout
        meta[str(i)] = json.dumps(cfg)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, op + ".safetensors")
    save(path, tensors, meta)
    print("%-22s %2d configurations  %s" % (op, len(configs), os.path.relpath(path)))


def leaf(*shape):
    return torch.randn(*shape).requires_grad_(True)


def conv_configs(r, transpose):
    out = []
    while len(out) < 20:
        g = r.choice([1, 1, 2, 3])
        cfg = dict(n=r.randint(1, 2), cin=g * r.randint(1, 3), cout=g * r.randint(1, 3), h=r.randint(1, 9), w=r.randint(1, 9),
                   kh=r.randint(1, 4), kw=r.randint(1, 4), stride=[r.randint(1, 3), r.randint(1, 3)],
                   padding=[r.randint(0, 2), r.randint(0, 2)], dilation=[r.randint(1, 2), r.randint(1, 2)], groups=g,
                   bias=r.random() < 0.5)
        if transpose:
            cfg["output_padding"] = [r.randint(0, max(cfg["stride"][0], cfg["dilation"][0]) - 1),
                                     r.randint(0, max(cfg["stride"][1], cfg["dilation"][1]) - 1)]
            oh = (cfg["h"] - 1) * cfg["stride"][0] - 2 * cfg["padding"][0] + cfg["dilation"][0] * (cfg["kh"] - 1) + cfg["output_padding"][0] + 1
            ow = (cfg["w"] - 1) * cfg["stride"][1] - 2 * cfg["padding"][1] + cfg["dilation"][1] * (cfg["kw"] - 1) + cfg["output_padding"][1] + 1
            ok = oh >= 1 and ow >= 1
        else:
            ok = all(cfg[s] + 2 * cfg["padding"][i] >= cfg["dilation"][i] * (cfg[k] - 1) + 1
                     for i, (s, k) in enumerate((("h", "kh"), ("w", "kw"))))
        if ok:
            out.append(cfg)
    return out


def conv(cfg):
    x = leaf(cfg["n"], cfg["cin"], cfg["h"], cfg["w"])
    w = leaf(cfg["cout"], cfg["cin"] // cfg["groups"], cfg["kh"], cfg["kw"])
    inputs = {"x": x, "w": w}
    b = None
    if cfg["bias"]:
        b = inputs["b"] = leaf(cfg["cout"])
    return inputs, F.conv2d(x, w, b, cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])


def conv_t(cfg):
    x = leaf(cfg["n"], cfg["cin"], cfg["h"], cfg["w"])
    w = leaf(cfg["cin"], cfg["cout"] // cfg["groups"], cfg["kh"], cfg["kw"])
    inputs = {"x": x, "w": w}
    b = None
    if cfg["bias"]:
        b = inputs["b"] = leaf(cfg["cout"])
    return inputs, F.conv_transpose2d(x, w, b, cfg["stride"], cfg["padding"], cfg["output_padding"], cfg["groups"], cfg["dilation"])


def pool_configs(r):
    out = []
    while len(out) < 20:
        k = [r.randint(1, 4), r.randint(1, 4)]
        cfg = dict(n=r.randint(1, 2), c=r.randint(1, 3), h=r.randint(1, 9), w=r.randint(1, 9), kernel=k,
                   stride=[r.randint(1, 3), r.randint(1, 3)], padding=[r.randint(0, k[0] // 2), r.randint(0, k[1] // 2)],
                   ceil_mode=r.random() < 0.5, count_include_pad=r.random() < 0.5)
        if cfg["h"] + 2 * cfg["padding"][0] >= k[0] and cfg["w"] + 2 * cfg["padding"][1] >= k[1]:
            out.append(cfg)
    return out


def main():
    r = random.Random(20261125)
    torch.manual_seed(20261125)
    run("conv2d", conv_configs(r, False), conv)
    run("conv_transpose2d", conv_configs(r, True), conv_t)
    pools = pool_configs(r)

    def maxpool(cfg):
        x = leaf(cfg["n"], cfg["c"], cfg["h"], cfg["w"])
        return {"x": x}, F.max_pool2d(x, cfg["kernel"], cfg["stride"], cfg["padding"], ceil_mode=cfg["ceil_mode"])
    run("max_pool2d", pools, maxpool)

    def avgpool(cfg):
        x = leaf(cfg["n"], cfg["c"], cfg["h"], cfg["w"])
        return {"x": x}, F.avg_pool2d(x, cfg["kernel"], cfg["stride"], cfg["padding"], cfg["ceil_mode"], cfg["count_include_pad"])
    run("avg_pool2d", pools, avgpool)

    adaptive = [dict(n=r.randint(1, 2), c=r.randint(1, 3), h=r.randint(1, 9), w=r.randint(1, 9), out=[r.randint(1, 10), r.randint(1, 10)])
                for _ in range(20)]

    def aavg(cfg):
        x = leaf(cfg["n"], cfg["c"], cfg["h"], cfg["w"])
        return {"x": x}, F.adaptive_avg_pool2d(x, cfg["out"])
    run("adaptive_avg_pool2d", adaptive, aavg)

    def amax(cfg):
        x = leaf(cfg["n"], cfg["c"], cfg["h"], cfg["w"])
        return {"x": x}, F.adaptive_max_pool2d(x, cfg["out"])
    run("adaptive_max_pool2d", adaptive, amax)

    norms = [dict(n=r.randint(2, 3), c=2 * r.randint(1, 3), h=r.randint(1, 6), w=r.randint(1, 6), training=i % 2 == 0,
                  momentum=r.choice([0.1, 0.3]), eps=r.choice([1e-5, 1e-3]), affine=r.random() < 0.7) for i in range(20)]

    def bn(cfg):
        x = leaf(cfg["n"], cfg["c"], cfg["h"], cfg["w"])
        rm, rv = torch.randn(cfg["c"]), torch.rand(cfg["c"]) + 0.5
        inputs = {"x": x, "running_mean": rm.clone(), "running_var": rv.clone()}
        w = b = None
        if cfg["affine"]:
            w, b = inputs["w"], inputs["b"] = leaf(cfg["c"]), leaf(cfg["c"])
        out = F.batch_norm(x, rm, rv, w, b, cfg["training"], cfg["momentum"], cfg["eps"])
        inputs["running_mean_after"], inputs["running_var_after"] = rm, rv
        return inputs, out
    run("batch_norm", norms, bn)

    def gn(cfg):
        x = leaf(cfg["n"], cfg["c"], cfg["h"], cfg["w"])
        inputs = {"x": x}
        w = b = None
        if cfg["affine"]:
            w, b = inputs["w"], inputs["b"] = leaf(cfg["c"]), leaf(cfg["c"])
        cfg["groups"] = cfg["c"] // 2
        return inputs, F.group_norm(x, cfg["groups"], w, b, cfg["eps"])
    run("group_norm", [dict(c) for c in norms], gn)

    def ln(cfg):
        x = leaf(cfg["n"], cfg["c"], cfg["h"], cfg["w"])
        shape = [cfg["h"], cfg["w"]]
        inputs = {"x": x}
        w = b = None
        if cfg["affine"]:
            w, b = inputs["w"], inputs["b"] = leaf(*shape), leaf(*shape)
        return inputs, F.layer_norm(x, shape, w, b, cfg["eps"])
    run("layer_norm", norms, ln)

    resizes = []
    for i in range(24):
        mode = ["nearest", "bilinear", "bilinear", "area"][i % 4]
        cfg = dict(n=r.randint(1, 2), c=r.randint(1, 3), h=r.randint(1, 8), w=r.randint(1, 8), mode=mode,
                   align_corners=(mode == "bilinear" and i % 8 == 1))
        if mode != "area" and r.random() < 0.4:
            cfg["scale"] = [r.choice([0.5, 0.75, 1.5, 2.0, 2.5]), r.choice([0.5, 1.25, 2.0, 3.0])]
            if int(cfg["h"] * cfg["scale"][0]) < 1 or int(cfg["w"] * cfg["scale"][1]) < 1:
                del cfg["scale"]
        if "scale" not in cfg:
            cfg["size"] = [r.randint(1, 12), r.randint(1, 12)]
        resizes.append(cfg)

    def resize(cfg):
        x = leaf(cfg["n"], cfg["c"], cfg["h"], cfg["w"])
        kw = dict(mode=cfg["mode"])
        if cfg["mode"] == "bilinear":
            kw["align_corners"] = cfg["align_corners"]
        if "scale" in cfg:
            return {"x": x}, F.interpolate(x, scale_factor=cfg["scale"], **kw)
        return {"x": x}, F.interpolate(x, size=cfg["size"], **kw)
    run("interpolate", resizes, resize)


if __name__ == "__main__":
    main()
