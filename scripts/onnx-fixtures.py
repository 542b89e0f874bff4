#!/usr/bin/env python3
"""ONNX graphs for prunelab's tests, built with the `onnx` helper (pinned: onnx==1.17.0, numpy).

Writes into the directory given as the first argument (default Tests/PruningTests/Fixtures/onnx):
- The zoo's LeNet-300-100, VGG-16, ResNet-20 and ResNet-50 written as ONNX graphs the way an
  exporter writes them (weights as graph inputs, PyTorch-style names, BatchNorm unfolded), with each
  architecture's padding convention: the Swift tests compare their effective masks with the zoo's.
- Small graphs beyond the zoo (DenseNet-style Concat, Inception-style branches, asymmetric pads,
  ceil-mode pooling, dilations, depthwise convolutions, MatMul + Add, Reshape), each with random
  masks and the effective masks an independent brute-force path search over the explicit unit
  graph finds here, in Python: NAME.onnx, NAME-masks-K.npz, NAME-effective-K.npz.
- Bad files for the error tests.

CI runs this script and checks that the committed fixtures are what it writes.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 17


class Graph:
    """An ONNX graph and, when `brute`, its explicit unit graph (one unit per activation element)."""

    def __init__(self, name, input_shape, brute=True, params=False, seed=0):
        self.name, self.brute, self.params = name, brute, params
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.inputs = [], [], []
        self.weights = []  # (name, shape)
        self.units = 0
        self.src, self.dst, self.wid = [], [], []  # edges; wid = flat index into all weights, -1 = routing
        self.offset = 0  # flat offset of the next weight
        self.count = 0
        self.shapes = {}
        self.inputs.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *input_shape]))
        self.shapes["input"] = tuple(input_shape)
        self.unit_ids = {"input": self.new_units(input_shape)}

    def new_units(self, shape):
        n = int(np.prod(shape))
        ids = np.arange(self.units, self.units + n).reshape(shape) if self.brute else None
        self.units += n
        return ids

    def fresh(self, op):
        self.count += 1
        return f"{op.lower()}{self.count}"

    def parameter(self, name, shape, prunable=False):
        if self.params:
            values = self.rng.standard_normal(shape).astype(np.float32)
            self.inits.append(helper.make_tensor(name, TensorProto.FLOAT, shape, values.flatten().tolist()))
        else:
            self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        if prunable:
            self.weights.append((name, tuple(shape)))
            base = self.offset
            self.offset += int(np.prod(shape))
            return base
        return None

    def node(self, op, inputs, name=None, **attributes):
        name = name or self.fresh(op)
        out = name + "_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attributes))
        return out

    def edge(self, s, d, w=-1):
        self.src.append(int(s))
        self.dst.append(int(d))
        self.wid.append(int(w))

    # Layers -----------------------------------------------------------------------------------

    def conv(self, x, out, k, stride=1, pads=None, dilation=1, group=1, auto_pad=None, weight=None, bias=False, name=None):
        c, h, w = self.shapes[x]
        kh, kw = (k, k) if isinstance(k, int) else k
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
        name = name or self.fresh("conv")
        weight = weight or name + ".weight"
        base = self.parameter(weight, (out, c // group, kh, kw), prunable=True)
        inputs = [x, weight]
        if bias:
            self.parameter(weight.replace("weight", "bias"), (out,))
            inputs.append(weight.replace("weight", "bias"))
        attributes = dict(kernel_shape=[kh, kw], strides=[sh, sw], dilations=[dh, dw], group=group)
        if auto_pad:
            attributes["auto_pad"] = auto_pad
            pads = []
            for size, kk, s, d in ((h, kh, sh, dh), (w, kw, sw, dw)):
                target = -(-size // s)
                total = max((target - 1) * s + (kk - 1) * d + 1 - size, 0)
                begin = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
                pads.append((begin, total - begin))
            top, left, bottom, right = pads[0][0], pads[1][0], pads[0][1], pads[1][1]
        else:
            top, left, bottom, right = pads or (0, 0, 0, 0)
            attributes["pads"] = [top, left, bottom, right]
        oh = (h + top + bottom - (kh - 1) * dh - 1) // sh + 1
        ow = (w + left + right - (kw - 1) * dw - 1) // sw + 1
        y = self.node("Conv", inputs, name=name, **attributes)
        self.shapes[y] = (out, oh, ow)
        if self.brute:
            src, dst = self.unit_ids[x], self.new_units((out, oh, ow))
            self.unit_ids[y] = dst
            per_in, per_out = c // group, out // group
            for o in range(out):
                g = o // per_out
                for j in range(per_in):
                    ic = g * per_in + j
                    for ky in range(kh):
                        for kx in range(kw):
                            wi = base + ((o * per_in + j) * kh + ky) * kw + kx
                            for oy in range(oh):
                                iy = oy * sh + ky * dh - top
                                if not 0 <= iy < h:
                                    continue
                                for ox in range(ow):
                                    ix = ox * sw + kx * dw - left
                                    if 0 <= ix < w:
                                        self.edge(src[ic, iy, ix], dst[o, oy, ox], wi)
        return y

    def elementwise(self, op, x, **attributes):
        extra = []
        if op == "BatchNormalization":
            c = self.shapes[x][0]
            stem = self.fresh("bn")
            for part in ("weight", "bias", "running_mean", "running_var"):
                self.parameter(f"{stem}.{part}", (c,))
                extra.append(f"{stem}.{part}")
        if op == "BatchNormalization":
            attributes = dict(epsilon=1e-3, momentum=0.9, **attributes)  # the zoo's BatchNorm
        y = self.node(op, [x] + extra, **attributes)
        self.shapes[y] = self.shapes[x]
        if self.brute:
            self.unit_ids[y] = self.unit_ids[x]
        return y

    def relu(self, x):
        return self.elementwise("Relu", x)

    def bn(self, x):
        return self.elementwise("BatchNormalization", x)

    def pool(self, x, op, k, stride=None, pads=(0, 0, 0, 0), ceil=0, count_include_pad=None):
        c, h, w = self.shapes[x]
        kh, kw = (k, k) if isinstance(k, int) else k
        stride = stride or k
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        top, left, bottom, right = pads
        def extent(size, kk, s, b, e):
            span = size + b + e - kk
            n = (-(-span // s) if ceil else span // s) + 1
            if ceil and (n - 1) * s >= size + b:
                n -= 1
            return n
        oh, ow = extent(h, kh, sh, top, bottom), extent(w, kw, sw, left, right)
        attributes = dict(kernel_shape=[kh, kw], strides=[sh, sw], pads=list(pads), ceil_mode=ceil)
        if count_include_pad is not None:
            attributes["count_include_pad"] = count_include_pad
        y = self.node(op, [x], **attributes)
        self.shapes[y] = (c, oh, ow)
        if self.brute:
            src, dst = self.unit_ids[x], self.new_units((c, oh, ow))
            self.unit_ids[y] = dst
            for ch in range(c):
                for oy in range(oh):
                    for ox in range(ow):
                        for ky in range(kh):
                            for kx in range(kw):
                                iy, ix = oy * sh + ky - top, ox * sw + kx - left
                                if 0 <= iy < h and 0 <= ix < w:
                                    self.edge(src[ch, iy, ix], dst[ch, oy, ox])
        return y

    def global_pool(self, x, op="GlobalAveragePool"):
        c, h, w = self.shapes[x]
        y = self.node(op, [x])
        self.shapes[y] = (c, 1, 1)
        if self.brute:
            src, dst = self.unit_ids[x], self.new_units((c, 1, 1))
            self.unit_ids[y] = dst
            for ch in range(c):
                for iy in range(h):
                    for ix in range(w):
                        self.edge(src[ch, iy, ix], dst[ch, 0, 0])
        return y

    def add(self, a, b):
        assert self.shapes[a] == self.shapes[b]
        y = self.node("Add", [a, b])
        self.shapes[y] = self.shapes[a]
        if self.brute:
            dst = self.new_units(self.shapes[a])
            self.unit_ids[y] = dst
            for s in (self.unit_ids[a], self.unit_ids[b]):
                for u, v in zip(s.flatten(), dst.flatten()):
                    self.edge(u, v)
        return y

    def concat(self, xs):
        y = self.node("Concat", xs, axis=1)
        shapes = [self.shapes[x] for x in xs]
        self.shapes[y] = (sum(s[0] for s in shapes),) + shapes[0][1:]
        if self.brute:
            self.unit_ids[y] = np.concatenate([self.unit_ids[x] for x in xs], axis=0)
        return y

    def flatten(self, x, reshape=False):
        if reshape:
            shape_name = self.fresh("shape")
            self.inits.append(helper.make_tensor(shape_name, TensorProto.INT64, [2], [1, -1]))
            y = self.node("Reshape", [x, shape_name])
        else:
            y = self.node("Flatten", [x], axis=1)
        self.shapes[y] = (int(np.prod(self.shapes[x])),)
        if self.brute:
            self.unit_ids[y] = self.unit_ids[x].reshape(-1)
        return y

    def softmax(self, x):
        """Softmax over features: every output unit depends on every input unit."""
        y = self.node("Softmax", [x], axis=-1)
        self.shapes[y] = self.shapes[x]
        if self.brute:
            src, dst = self.unit_ids[x], self.new_units(self.shapes[x])
            self.unit_ids[y] = dst
            for u in src.flatten():
                for v in dst.flatten():
                    self.edge(u, v)
        return y

    def dense(self, x, out, op="Gemm", weight=None, name=None, bias=True):
        (features,) = self.shapes[x]
        name = name or self.fresh("fc")
        weight = weight or name + ".weight"
        transposed = op == "MatMul"
        shape = (features, out) if transposed else (out, features)
        base = self.parameter(weight, shape, prunable=True)
        bias_name = weight.replace("weight", "bias")
        if op == "Gemm":
            self.parameter(bias_name, (out,))
            y = self.node("Gemm", [x, weight, bias_name], name=name, transB=1)
        else:
            y = self.node("MatMul", [x, weight], name=name)
            if bias:
                self.parameter(bias_name, (out,))
                y = self.node("Add", [y, bias_name])
        self.shapes[y] = (out,)
        if self.brute:
            src, dst = self.unit_ids[x], self.new_units((out,))
            self.unit_ids[y] = dst
            for o in range(out):
                for i in range(features):
                    wi = base + (i * out + o if transposed else o * features + i)
                    self.edge(src[i], dst[o], wi)
        return y

    # Output -----------------------------------------------------------------------------------

    def model(self, outputs):
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs,
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["batch", *self.shapes[o]]) for o in outputs],
            initializer=self.inits)
        model = helper.make_model(graph, producer_name="prunelab onnx-fixtures.py",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model

    def effective(self, masks, outputs):
        """Brute force: forward reach from every input unit, backward from every output unit."""
        flat = np.concatenate([masks[n].reshape(-1) for n, _ in self.weights]).astype(bool)
        src, dst, wid = np.array(self.src), np.array(self.dst), np.array(self.wid)
        kept = (wid < 0) | flat[np.maximum(wid, 0)]
        assert (src < dst).all()
        forward = np.zeros(self.units, bool)
        forward[self.unit_ids["input"].reshape(-1)] = True
        order = np.argsort(src, kind="stable")
        for e in order:
            if kept[e] and forward[src[e]]:
                forward[dst[e]] = True
        backward = np.zeros(self.units, bool)
        for o in outputs:
            backward[self.unit_ids[o].reshape(-1)] = True
        for e in np.argsort(-dst, kind="stable"):
            if kept[e] and backward[dst[e]]:
                backward[src[e]] = True
        effective = np.zeros_like(flat)
        on_path = (wid >= 0) & kept & forward[src] & backward[dst]
        effective[wid[on_path]] = True
        result, offset = {}, 0
        for n, shape in self.weights:
            size = int(np.prod(shape))
            result[n] = effective[offset:offset + size].reshape(shape)
            offset += size
        return result

    def write(self, directory, outputs, densities=(0.08, 0.3, 0.7)):
        onnx.save(self.model(outputs), os.path.join(directory, self.name + ".onnx"))
        if not self.brute:
            return
        for k, density in enumerate(densities):
            masks = {n: self.rng.random(shape) < density for n, shape in self.weights}
            np.savez(os.path.join(directory, f"{self.name}-masks-{k}.npz"), **masks)
            np.savez(os.path.join(directory, f"{self.name}-effective-{k}.npz"), **self.effective(masks, outputs))


# The zoo, as exported graphs ----------------------------------------------------------------------

def lenet300(directory):
    g = Graph("lenet300-100", (1, 28, 28), brute=False)
    x = g.flatten("input")
    x = g.relu(g.bn(g.dense(x, 300, name="fc1")))
    x = g.relu(g.bn(g.dense(x, 100, name="fc2")))
    g.write(directory, [g.dense(x, 10, name="fc3")])


def vgg16(directory):
    g = Graph("vgg16", (3, 32, 32), brute=False)
    x, n = "input", 0
    for width in [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]:
        if width == 0:
            x = g.pool(x, "MaxPool", 2)
        else:
            n += 1
            x = g.relu(g.bn(g.conv(x, width, 3, pads=(1, 1, 1, 1), bias=True, name=f"features.{n}")))
    g.write(directory, [g.dense(g.flatten(x), 10, name="classifier")])


def resnet(directory, name, input_shape, classes, stem, stages, bottleneck):
    """ResNet-20 (TensorFlow 'same': SAME_UPPER) and ResNet-50 (Keras: symmetric stem and pool pads)."""
    g = Graph(name, input_shape, brute=False)
    if bottleneck:
        x = g.relu(g.bn(g.conv("input", 64, 7, stride=2, pads=(3, 3, 3, 3), name="conv1")))
        x = g.pool(x, "MaxPool", 3, stride=2, pads=(1, 1, 1, 1))
        channels = 64
    else:
        x = g.relu(g.bn(g.conv("input", stem, 3, auto_pad="SAME_UPPER", name="conv1")))
        channels = stem
    for s, (width, blocks, stride) in enumerate(stages, start=1):
        for b in range(blocks):
            prefix, block_stride = f"layer{s}.{b}", stride if b == 0 else 1
            out = 4 * width if bottleneck else width
            if bottleneck:
                y = g.relu(g.bn(g.conv(x, width, 1, stride=block_stride, name=prefix + ".conv1")))
                y = g.relu(g.bn(g.conv(y, width, 3, pads=(1, 1, 1, 1), name=prefix + ".conv2")))
                y = g.bn(g.conv(y, out, 1, name=prefix + ".conv3"))
            else:
                y = g.relu(g.bn(g.conv(x, width, 3, stride=block_stride, auto_pad="SAME_UPPER", name=prefix + ".conv1")))
                y = g.bn(g.conv(y, width, 3, auto_pad="SAME_UPPER", name=prefix + ".conv2"))
            shortcut = x
            if block_stride != 1 or channels != out:
                shortcut = g.bn(g.conv(x, out, 1, stride=block_stride, name=prefix + ".downsample.0"))
            x = g.relu(g.add(y, shortcut))
            channels = out
    x = g.flatten(g.global_pool(x))
    g.write(directory, [g.dense(x, classes, name="fc")])


# Beyond the zoo, checked by brute force ----------------------------------------------------------

def densenet(directory):
    """Two dense blocks (each layer reads the concatenation of all before it) and a transition."""
    g = Graph("densenet-tiny", (3, 8, 8), seed=1)
    x = g.conv("input", 4, 3, pads=(1, 1, 1, 1))
    for block in range(2):
        features = [x]
        for _ in range(3):
            inp = features[0] if len(features) == 1 else g.concat(features)
            y = g.conv(g.relu(g.bn(inp)), 8, 1)
            features.append(g.conv(g.relu(g.bn(y)), 3, 3, pads=(1, 1, 1, 1)))
        x = g.concat(features)
        if block == 0:
            x = g.pool(g.conv(g.relu(g.bn(x)), 6, 1), "AveragePool", 2)
    x = g.flatten(g.global_pool(g.relu(g.bn(x))))
    g.write(directory, [g.dense(x, 5, name="classifier")])


def inception(directory):
    """An Inception module: 1×1, 1×1→3×3, 1×1→5×5, 3×3 max pool→1×1, concatenated; then a second one."""
    g = Graph("inception-tiny", (3, 9, 9), seed=2)
    x = g.relu(g.conv("input", 6, 3, stride=1, pads=(1, 1, 1, 1)))
    for _ in range(2):
        a = g.relu(g.conv(x, 3, 1))
        b = g.relu(g.conv(g.relu(g.conv(x, 4, 1)), 3, 3, pads=(1, 1, 1, 1)))
        c = g.relu(g.conv(g.relu(g.conv(x, 2, 1)), 2, 5, pads=(2, 2, 2, 2)))
        d = g.relu(g.conv(g.pool(x, "MaxPool", 3, stride=1, pads=(1, 1, 1, 1)), 2, 1))
        x = g.concat([a, b, c, d])
        x = g.pool(x, "MaxPool", 3, stride=2, pads=(0, 0, 1, 1), ceil=1)
    x = g.flatten(g.global_pool(x, "GlobalMaxPool"))
    g.write(directory, [g.dense(x, 4, name="fc")])


def corners(directory):
    """Asymmetric pads, strided taps that see only padding, dilations, depthwise convolutions,
    ceil-mode pools, Reshape, MatMul + Add and a softmax between dense layers, with weights stored
    as initializers."""
    g = Graph("corners", (2, 11, 11), params=True, seed=3)
    x = g.conv("input", 4, 3, stride=2, pads=(0, 2, 2, 0))
    x = g.conv(x, 4, 3, dilation=2, pads=(2, 1, 0, 3))
    x = g.conv(x, 4, 3, group=4, auto_pad="SAME_LOWER", stride=2)
    x = g.pool(x, "AveragePool", 2, stride=2, pads=(1, 0, 0, 1), ceil=1, count_include_pad=1)
    x = g.conv(x, 6, (1, 2), stride=(1, 2), pads=(0, 1, 0, 0), group=2)
    x = g.flatten(x, reshape=True)
    x = g.softmax(g.relu(g.dense(x, 7, op="MatMul", name="head")))
    g.write(directory, [g.dense(x, 3, name="out")])


def residual_outputs(directory):
    """A residual shortcut that carries connectivity past a dead branch, and two graph outputs."""
    g = Graph("two-outputs", (2, 6, 6), seed=4)
    x = g.conv("input", 3, 3, pads=(1, 1, 1, 1))
    y = g.conv(g.relu(g.conv(x, 3, 3, pads=(1, 1, 1, 1))), 3, 3, pads=(1, 1, 1, 1))
    x = g.relu(g.add(x, y))
    left = g.dense(g.flatten(g.global_pool(x)), 2, name="head_a")
    # Ceil mode would add a third window starting in the end padding; it is dropped.
    right = g.dense(g.flatten(g.pool(x, "MaxPool", 2, stride=4, pads=(0, 0, 1, 1), ceil=1)), 2, name="head_b")
    g.write(directory, [left, right], densities=(0.15, 0.4, 0.8))


# Bad files ---------------------------------------------------------------------------------------

def bad(directory):
    good = onnx.load(os.path.join(directory, "corners.onnx")).SerializeToString()
    with open(os.path.join(directory, "bad-truncated.onnx"), "wb") as f:
        f.write(good[: len(good) // 2])
    def save(name, nodes, inputs, outputs, inits=()):
        graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.save(model, os.path.join(directory, name + ".onnx"))
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 2, 4, 4])
    w = helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 2, 1, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, 4, 4])
    # A cycle: a → b → a.
    save("bad-cycle", [helper.make_node("Conv", ["input2", "w"], ["a"], name="a"),
                       helper.make_node("Add", ["a", "input"], ["b"], name="b"),
                       helper.make_node("Relu", ["b"], ["input2"], name="c"),
                       helper.make_node("Relu", ["b"], ["y"], name="d")], [x, w], [y])
    # An operator prunelab does not read.
    save("bad-operator", [helper.make_node("Conv", ["input", "w"], ["a"], name="conv"),
                          helper.make_node("Resize", ["a"], ["y"], name="resize")], [x, w], [y])
    # A weight declaring 2^31 elements (8 GiB of float32) without data.
    huge = helper.make_tensor_value_info("w", TensorProto.FLOAT, [65536, 32768, 1, 1])
    save("bad-huge", [helper.make_node("Conv", ["input", "w"], ["y"], name="conv")], [x, huge], [y])


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "PruningTests",
                                                                     "Fixtures", "onnx")
    os.makedirs(directory, exist_ok=True)
    lenet300(directory)
    vgg16(directory)
    resnet(directory, "resnet20", (3, 32, 32), 10, 16, [(16, 3, 1), (32, 3, 2), (64, 3, 2)], bottleneck=False)
    resnet(directory, "resnet50", (3, 224, 224), 1000, 64, [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], bottleneck=True)
    densenet(directory)
    inception(directory)
    corners(directory)
    residual_outputs(directory)
    bad(directory)


if __name__ == "__main__":
    main()
