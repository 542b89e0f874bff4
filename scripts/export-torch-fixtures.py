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
