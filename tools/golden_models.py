#!/usr/bin/python3
"""Writes the golden files for the nn module's preset models: for resnet_a and vgg_b (defined here
after the reference spec), a PyTorch state_dict as safetensors.torch.save_file would write it (F32
tensors, num_batches_tracked as I64) with randomised BN statistics, and a file holding an input
batch with PyTorch's logits in eval and in train mode.

Run with Debian's python3-torch:  /usr/bin/python3 tools/golden_models.py   (CI does not need PyTorch)."""
import json, os, struct
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nn", "src", "test", "resources", "golden")
DTYPES = {torch.float32: ("F32", "f"), torch.float64: ("F64", "d"), torch.int64: ("I64", "q")}


def save(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        code, fmt = DTYPES[t.dtype]
        data = struct.pack("<%d%s" % (t.numel(), fmt), *t.flatten().tolist())
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class Residual(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.sc = None
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.sc is None else self.sc(x)))


def conv_bn_relu(cin, cout, k):
    return [nn.Conv2d(cin, cout, k, 1, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def body(name):
    if name == "resnet_a":
        return nn.Sequential(*conv_bn_relu(1, 32, 3), Residual(32, 32, 1), Residual(32, 64, 2)), 64
    return nn.Sequential(*conv_bn_relu(1, 32, 5), nn.MaxPool2d(2), *conv_bn_relu(32, 48, 3), nn.MaxPool2d(2),
                         *conv_bn_relu(48, 96, 3)), 96


class Classifier(nn.Module):
    def __init__(self, name):
        super().__init__()
        self.body, c = body(name)
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.body(x), 1).flatten(1))


class TwoStream(nn.Module):
    """The reference two-stream model: resnet_a and vgg_b bodies, B bilinearly resized to A's 14x14, then
    concat + 1x1 conv + BN + ReLU to 128 channels (concat), or 1x1 conv + BN projections to 128 and add."""
    def __init__(self, fusion="concat", c=128):
        super().__init__()
        self.a, _ = body("resnet_a")
        self.b, _ = body("vgg_b")
        self.fusion = fusion
        if fusion == "concat":
            self.mix = nn.Sequential(nn.Conv2d(64 + 96, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        else:
            self.pa = nn.Sequential(nn.Conv2d(64, c, 1, bias=False), nn.BatchNorm2d(c))
            self.pb = nn.Sequential(nn.Conv2d(96, c, 1, bias=False), nn.BatchNorm2d(c))
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        a = self.a(x)
        b = F.interpolate(self.b(x), size=a.shape[-2:], mode="bilinear", align_corners=False)
        y = self.mix(torch.cat([a, b], 1)) if self.fusion == "concat" else F.relu(self.pa(a) + self.pb(b))
        return self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, name in enumerate(["resnet_a", "vgg_b"]):
        torch.manual_seed(10 + i)
        m = Classifier(name)
        for mod in m.modules():  # statistics and affine terms away from their defaults, so loading them matters
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.data.uniform_(0.5, 1.5)
                mod.bias.data.uniform_(-0.2, 0.2)
                mod.num_batches_tracked.fill_(7)
        state = {k: v.clone() for k, v in m.state_dict().items()}
        save(os.path.join(OUT, name + ".safetensors"), state)
        x = torch.randn(4, 1, 28, 28)
        m.eval()
        with torch.no_grad():
            logits_eval = m(x)
        m.train()
        logits_train = m(x)
        loss = F.cross_entropy(logits_train, torch.tensor([0, 3, 5, 9]))
        loss.backward()
        save(os.path.join(OUT, name + ".io.safetensors"), {
            "input": x, "logits_eval": logits_eval, "logits_train": logits_train.detach(),
            "grad_fc_weight": m.fc.weight.grad, "grad_conv0_weight": m.body[0].weight.grad,
            "running_mean_after": m.body[1].running_mean})
        print(name, "params", sum(p.numel() for p in m.parameters()), "keys", len(state))


def optimizers():
    """Three steps of each optimizer on one parameter from fixed gradients, with a cosine schedule."""
    torch.manual_seed(3)
    p0 = torch.randn(7, 5, dtype=torch.float64)
    grads = [torch.randn(7, 5, dtype=torch.float64) for _ in range(3)]
    out = {"p0": p0}
    for i, g in enumerate(grads):
        out["grad%d" % i] = g
    makers = {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
        "sgd_plain": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.5, dampening=0.1, weight_decay=0.01),
        "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.01),
        "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    }
    for name, make in makers.items():
        p = torch.nn.Parameter(p0.clone())
        opt = make([p])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 4)
        for i, g in enumerate(grads):
            p.grad = g.clone()
            opt.step()
            sched.step()
            out["%s.%d" % (name, i)] = p.detach().clone()
    save(os.path.join(OUT, "optim.safetensors"), out)


if __name__ == "__main__":
    main()
    optimizers()
