"""Independent NumPy reference for `prunelab effective --arch vgg19 --masks M.npz`.

Exact effective masks of VGG-19 (CIFAR variant: 3x3 'same' convs with BN+ReLU, 2x2/2 max pools,
flatten, one dense layer): boolean reachability from an all-ones input forward and from an all-ones
output backward, as 0/1 float32 matrix products (im2col) clamped after every layer; a kept weight is
effective iff its input reach and output reach meet. Written apart from prunelab's code (it shares
only the definition of VGG-19) as the yardstick for the whole-process time of `prunelab effective`
(scripts/bench-mask-commands, BENCHMARKS.md); on a random/uniform 10x mask set its effective masks
and counts equal prunelab's bit for bit.
Usage: python3 bench/effective_numpy.py M.npz [--save OUT.npz]
"""
import sys
import numpy as np

PLAN = [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0]


def im2col(x):  # x: (C, H, W) float32 -> (C*9, H*W), zero padding 1 ('same')
    c, h, w = x.shape
    p = np.zeros((c, h + 2, w + 2), np.float32)
    p[:, 1:-1, 1:-1] = x
    cols = np.empty((c, 3, 3, h, w), np.float32)
    for ky in range(3):
        for kx in range(3):
            cols[:, ky, kx] = p[:, ky:ky + h, kx:kx + w]
    return cols.reshape(c * 9, h * w)


def col2im(cols, c, h, w):  # adjoint of im2col: (C*9, H*W) -> (C, H, W)
    cols = cols.reshape(c, 3, 3, h, w)
    p = np.zeros((c, h + 2, w + 2), np.float32)
    for ky in range(3):
        for kx in range(3):
            p[:, ky:ky + h, kx:kx + w] += cols[:, ky, kx]
    return p[:, 1:-1, 1:-1]


def main():
    path = sys.argv[1]
    save = sys.argv[sys.argv.index("--save") + 1] if "--save" in sys.argv else None
    archive = np.load(path)
    names = [f"conv{i + 1}" for i in range(sum(1 for v in PLAN if v))] + ["fc1"]
    masks = [archive[n] for n in names]
    weights = [m.astype(np.float32) for m in masks]

    # Forward reach, remembering each weighted layer's input.
    x = np.ones((3, 32, 32), np.float32)
    inputs, shapes, layer = [], [], 0
    for width in PLAN:
        if width == 0:
            c, h, w = x.shape
            x = (x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4)) > 0).astype(np.float32)
            shapes.append(("pool", (c, h, w)))
            continue
        c, h, w = x.shape
        cols = im2col(x)
        inputs.append(cols)
        shapes.append(("conv", (c, h, w)))
        x = ((weights[layer].reshape(width, -1) @ cols) > 0).astype(np.float32).reshape(width, h, w)
        layer += 1
    flat = x.reshape(-1)
    products = [None] * len(weights)
    # Backward reach from an all-ones output.
    g = np.ones(weights[-1].shape[0], np.float32)
    products[-1] = np.outer(g, flat)
    g = ((weights[-1].T @ g) > 0).astype(np.float32).reshape(x.shape)
    layer = len(weights) - 2
    for kind, (c, h, w) in reversed(shapes):
        if kind == "pool":
            g = np.repeat(np.repeat(g, 2, axis=1), 2, axis=2)
            continue
        o = weights[layer].shape[0]
        gf = g.reshape(o, h * w)
        products[layer] = (gf @ inputs[layer].T).reshape(weights[layer].shape)
        if layer > 0:
            g = (col2im(weights[layer].reshape(o, -1).T @ gf, c, h, w) > 0).astype(np.float32)
        layer -= 1

    effective = [m.astype(bool) & (p > 0) for m, p in zip(masks, products)]
    total = kept = eff = 0
    for n, m, e in zip(names, masks, effective):
        k, f = int(np.count_nonzero(m)), int(np.count_nonzero(e))
        print(f"{n:8}{str(list(m.shape)):20}{m.size:<11}{k:<11}{f:<11}")
        total, kept, eff = total + m.size, kept + k, eff + f
    print(f"total {total} weights: kept {kept}, effective {eff}")
    if save:
        np.savez_compressed(save, **dict(zip(names, effective)))


if __name__ == "__main__":
    main()
