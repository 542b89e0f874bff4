"""PyTorch eager training throughput (images/s) on CUDA: the yardstick `scripts/gpu-check` sets
prunelab's GPU backend against (`prunelab bench NET --device gpu:0`, target >= 0.9 of this).

Networks: LeNet-300-100 (Fashion-MNIST shapes 1x28x28, batch 100), VGG-16 CIFAR variant (3x32x32,
batch 128) and ResNet-18 TinyImageNet variant (3x64x64, 200 classes, batch 64): the definitions
of bench/anchor_torch.py (the PyTorch-CPU anchor program), copied here, except that
LeNet-300-100 has no BatchNorm on its logits, as prunelab's `lenet300-100` (anchor_torch.py's
`lenet300(out_bn=False)`), and takes the 1x28x28 images through a Flatten, as prunelab does.

Every step is what `prunelab bench` times: the next batch of a pool of synthetic host batches
copied to the device (pinned memory, non_blocking), forward, cross-entropy, backward and SGD
(momentum 0.9, weight decay on conv/dense kernels). float32 WITHOUT TF32 (matmul and cuDNN
TF32 are switched off, as prunelab's kernels compute in plain FP32); cudnn.benchmark on;
contiguous NCHW unless --channels-last. Warm-up steps (cuDNN's algorithm search) are not timed;
the steps per window are calibrated to --seconds; each window ends with torch.cuda.synchronize();
the median of --windows windows is reported (min, max beside it).

Usage: python3 scripts/bench-torch-gpu.py [--nets lenet300,vgg16,resnet18] [--device cuda:0]
       [--windows 5 --seconds 1] [--batch-size NET=B ...] [--channels-last] [--json]
       python3 scripts/bench-torch-gpu.py --device cpu --quick     # smoke test, numbers meaningless
"""
import argparse, json, math, statistics, sys, time, warnings

import torch, torch.nn as nn, torch.nn.functional as F

NETS = {  # name -> (build, input shape, classes, default batch), as in `prunelab bench`
    "lenet300": (lambda: lenet300(out_bn=False, flatten=True), (1, 28, 28), 10, 100),
    "vgg16": (lambda: vgg16(), (3, 32, 32), 10, 128),
    "resnet18": (lambda: ResNet18(), (3, 64, 64), 200, 64),
}
ARCHITECTURES = {"lenet300": "lenet300-100", "vgg16": "vgg16", "resnet18": "resnet18"}


# ---------------------------------------------------------------- models (from anchor_torch.py)
def bn_relu_conv(cin, cout, k, pad):
    return [nn.Conv2d(cin, cout, k, padding=pad), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def lenet300(out_bn=True, flatten=False):
    layers, d = [], 784
    for u in (300, 100):
        layers += [nn.Linear(d, u), nn.BatchNorm1d(u), nn.ReLU(inplace=True)]
        d = u
    layers += [nn.Linear(d, 10)] + ([nn.BatchNorm1d(10)] if out_bn else [])
    m = nn.Sequential(*layers)
    for l in m:
        if isinstance(l, nn.Linear):  # Keras VarianceScaling(2.0, fan_avg, truncated normal) as in the TF script
            std = math.sqrt(2.0 / ((l.in_features + l.out_features) / 2)) / 0.87962566103423978
            nn.init.trunc_normal_(l.weight, std=std, a=-2 * std, b=2 * std)
            nn.init.zeros_(l.bias)
    return nn.Sequential(nn.Flatten(), *m) if flatten else m


def vgg16():
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += bn_relu_conv(c, v, 3, 1); c = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 10))


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.b2 = nn.BatchNorm2d(cout)
        self.sc = nn.Sequential()
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        o = F.relu(self.b1(self.c1(x)))
        o = self.b2(self.c2(o))
        return F.relu(o + self.sc(x))


class ResNet18(nn.Module):
    def __init__(self, classes=200):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        blocks, c = [], 64
        for w, s in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [Basic(c, w, s), Basic(w, w, 1)]; c = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def fwd_macs(model, x1):
    macs = 0

    def hook(m, i, o):
        nonlocal macs
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            macs += (o.numel() // o.shape[0]) * (m.in_channels // m.groups) * kh * kw
        elif isinstance(m, nn.Linear):
            macs += m.in_features * m.out_features
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(x1)
    model.train()
    for h in hs:
        h.remove()
    return macs


def sgd(model, lr):
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]  # conv/dense kernels
    rest = [p for n, p in model.named_parameters() if p.dim() <= 1]  # biases, BN gamma/beta
    return torch.optim.SGD([{"params": decay, "weight_decay": 1e-3}, {"params": rest, "weight_decay": 0.0}],
                           lr=lr, momentum=0.9)


# ---------------------------------------------------------------- set-up and timing
def fp32_without_tf32():
    """Switches TF32 off for cuBLAS matmuls and cuDNN convolutions; returns how it reads back.
    Only the legacy flags are written: torch >= 2.9 refuses reads after a mix of these and the
    new per-backend fp32_precision settings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch >= 2.9 warns that the legacy flags will be deprecated
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    if matmul or cudnn:
        sys.exit(f"bench-torch-gpu: TF32 is still on (matmul {matmul}, cuDNN {cudnn})")
    return "fp32, TF32 off (torch.backends.cuda.matmul.allow_tf32 = False, torch.backends.cudnn.allow_tf32 = False)"


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(name, device, batch, args):
    build, shape, classes, _ = NETS[name]
    torch.manual_seed(0)
    fmt = torch.channels_last if args.channels_last and len(shape) == 3 and shape[0] > 1 else torch.contiguous_format
    model = build().to(device).to(memory_format=fmt)
    macs = fwd_macs(model, torch.zeros(2, *shape, device=device).contiguous(memory_format=fmt))
    opt = sgd(model, 0.01)
    model.train()
    generator = torch.Generator().manual_seed(1)
    pin = device.type == "cuda"
    pool = [(torch.randn(batch, *shape, generator=generator).contiguous(memory_format=fmt),
             torch.randint(0, classes, (batch,), generator=generator)) for _ in range(4)]
    if pin:
        pool = [(x.pin_memory(), y.pin_memory()) for x, y in pool]
    k = 0

    def steps(count):
        nonlocal k
        for _ in range(count):
            x, y = pool[k % len(pool)]; k += 1
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        return loss

    # Warm-up: cuDNN's algorithm search on the first steps, the caching allocator, lazy init.
    steps(args.warmup_steps)
    synchronize(device)
    start = time.perf_counter()
    steps(args.calibration_steps)
    synchronize(device)
    per_step = (time.perf_counter() - start) / args.calibration_steps
    per_window = max(1, int(args.seconds / per_step)) if not args.quick else 1
    rates = []
    for _ in range(args.windows):
        synchronize(device)
        start = time.perf_counter()
        loss = steps(per_window)
        synchronize(device)
        rates.append(per_window * batch / (time.perf_counter() - start))
    median = statistics.median(rates)
    flops = 3 * 2 * macs
    return {"net": name, "architecture": ARCHITECTURES[name], "batch": batch, "images_per_second": median,
            "images_per_second_min": min(rates), "images_per_second_max": max(rates), "windows": args.windows,
            "steps_per_window": per_window, "flops_per_image": flops, "gflops": median * flops / 1e9,
            "loss": float(loss.item()), "memory_format": "channels_last" if fmt is torch.channels_last else "nchw"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default="lenet300,vgg16,resnet18")
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (cpu: for --quick smoke tests)")
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0, help="length of each timed window")
    ap.add_argument("--warmup-steps", type=int, default=10)
    ap.add_argument("--calibration-steps", type=int, default=10)
    ap.add_argument("--batch-size", action="append", default=[], metavar="NET=B", help="override a net's batch")
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format for the conv nets")
    ap.add_argument("--quick", action="store_true", help="smoke test: batch <= 8, 1 warm-up step, 2 windows of 1 step")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args()
    nets = args.nets.split(",")
    unknown = [n for n in nets if n not in NETS]
    if unknown:
        ap.error(f"unknown net {', '.join(unknown)} (known: {', '.join(NETS)})")
    batches = {n: NETS[n][3] for n in nets}
    for item in args.batch_size:
        net, _, value = item.partition("=")
        if net not in NETS or not value.isdigit() or int(value) < 1:
            ap.error(f"--batch-size takes NET=B with NET in {', '.join(NETS)} and B >= 1, got {item!r}")
        batches[net] = int(value)
    if args.quick:
        args.windows, args.warmup_steps, args.calibration_steps = 2, 1, 1
        batches = {n: min(b, 8) for n, b in batches.items()}
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench-torch-gpu: torch.cuda.is_available() is False (torch %s, built for CUDA %s)" % (torch.__version__, torch.version.cuda))
    precision = fp32_without_tf32()
    torch.backends.cudnn.benchmark = True
    report = {"framework": "torch", "torch_version": torch.__version__, "cuda_version": torch.version.cuda,
              "cudnn_version": torch.backends.cudnn.version() if device.type == "cuda" else None,
              "device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "precision": precision, "cudnn_benchmark": True, "mode": "eager",
              "input": "synthetic host batches (pinned on CUDA) copied to the device every step", "quick": args.quick,
              "nets": []}
    if not args.json:
        print(f"# torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {report['cudnn_version']}) on "
              f"{report['device_name']}; {precision}; cudnn.benchmark on; eager", flush=True)
    for net in nets:
        row = bench(net, device, batches[net], args)
        report["nets"].append(row)
        if not args.json:
            print(f"{net} batch {row['batch']}: {row['images_per_second']:.0f} images/s (min {row['images_per_second_min']:.0f}, "
                  f"max {row['images_per_second_max']:.0f}; {row['windows']} windows of {row['steps_per_window']} steps), "
                  f"{row['flops_per_image'] / 1e6:.3f} MFLOP/image, {row['gflops']:.1f} GFLOP/s", flush=True)
    if args.json:
        print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
