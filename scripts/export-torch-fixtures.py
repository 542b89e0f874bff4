#!/usr/bin/env python3
"""Exports torchvision's ResNet-18 and MobileNetV2 with PyTorch, without parameters, as fixtures for
prunelab's end-to-end tests of ONNX import (Tests/PruningTests/Fixtures/onnx/*-torchvision.onnx).

Not run by CI (PyTorch is a multi-gigabyte install); run by hand and commit the files:
    python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch==2.15.0 torchvision==0.29.2 onnx==1.17.0
    /tmp/torch/bin/python scripts/export-torch-fixtures.py
`export_params=False` keeps the files small (weights become graph inputs with their shapes) and
`do_constant_folding=False` keeps BatchNorm a node of its own, as the README's recipe says.
"""
import os

import torch
import torchvision

directory = os.path.join(os.path.dirname(__file__), "..", "Tests", "PruningTests", "Fixtures", "onnx")
for name, make, size in [("resnet18", torchvision.models.resnet18, 64), ("mobilenet_v2", torchvision.models.mobilenet_v2, 64)]:
    model = make(weights=None, num_classes=10).eval()
    torch.onnx.export(model, torch.ones(1, 3, size, size), os.path.join(directory, f"{name}-torchvision.onnx"),
                      export_params=False, do_constant_folding=False, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}}, opset_version=17, dynamo=False)
    # The masks a PyTorch user saves: {name: mask} of every conv and linear weight, here all ones.


# A small network with its parameters, an input and PyTorch's output for it: what prunelab's engine
# must compute from the same graph (ONNXNetwork with the file's initializers), in eval mode.
class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True))
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        self.down = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
                                  nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16))
        self.shortcut = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.pool = nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(self.body(x) + x)
        x = torch.relu(self.down(x) + self.shortcut(x))
        x = self.pool(x)
        return self.head(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


torch.manual_seed(0)
small = Small()
for module in small.modules():
    if isinstance(module, torch.nn.BatchNorm2d):
        module.running_mean.uniform_(-0.5, 0.5)
        module.running_var.uniform_(0.5, 2)
        module.weight.data.uniform_(0.5, 1.5)
        module.bias.data.uniform_(-0.2, 0.2)
small.eval()
x = torch.randn(2, 3, 13, 13)
torch.onnx.export(small, x[:1], os.path.join(directory, "small-torch.onnx"), export_params=True, do_constant_folding=False,
                  input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}}, opset_version=17,
                  dynamo=False)
with torch.no_grad():
    import numpy as np
    np.savez(os.path.join(directory, "small-torch-io.npz"), input=x.numpy(), output=small(x).numpy())


# A network pruned with torch.nn.utils.prune: the graph carries weight_orig · weight_mask, and the
# masks themselves (with its parameters) or only their shapes (without). pruned-torch-masks.npz holds
# the same masks as a PyTorch user saves them.
torch.manual_seed(1)
nn = torch.nn
pruned = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 4, 3, stride=2), nn.ReLU(),
                       nn.Flatten(), nn.Linear(4 * 3 * 3, 5))
import torch.nn.utils.prune as torch_prune
torch_prune.random_unstructured(pruned[0], "weight", amount=0.6)
torch_prune.l1_unstructured(pruned[6], "weight", amount=0.9)
pruned.eval()
for params, name in [(True, "pruned-torch.onnx"), (False, "pruned-torch-noparams.onnx")]:
    torch.onnx.export(pruned, torch.ones(1, 3, 8, 8), os.path.join(directory, name), export_params=params, do_constant_folding=False,
                      input_names=["input"], output_names=["logits"], opset_version=17, dynamo=False)
np.savez(os.path.join(directory, "pruned-torch-masks.npz"), **{"0.weight": pruned[0].weight_mask.numpy(),
                                                                "3.weight": np.ones((4, 6, 3, 3), np.float32),
                                                                "6.weight": pruned[6].weight_mask.numpy()})
