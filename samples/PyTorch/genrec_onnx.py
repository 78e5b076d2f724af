"""What every GenRec model folder written from PyTorch needs: graph hashes and a manifest beside the graphs.

The manifests are the ones `docs/onnx-contract.md` describes; GenRec's loaders check each graph's SHA-256, so a
graph replaced or truncated after export is refused before ONNX Runtime reads it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import warnings
from typing import Any, Iterator

import onnx
import torch

OPSET = 17
"""The opset GenRec's runtimes are tested with (ONNX Runtime reads it on the CPU and on CUDA)."""


def sha256(path: str) -> str:
    """Lower-case hex SHA-256 of a file, as a manifest records it."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def graph_entry(folder: str, file: str) -> dict[str, str]:
    """The manifest's record of one graph file in `folder`."""
    return {"file": file, "sha256": sha256(os.path.join(folder, file))}


def write_manifest(folder: str, manifest: dict[str, Any]) -> str:
    """Writes `manifest.json` into `folder` and returns its path."""
    path = os.path.join(folder, "manifest.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    return path


def producer() -> str:
    """What the manifest says wrote the graphs."""
    return f"torch.onnx {torch.__version__} (samples/PyTorch)"


def attention_bias(mask: torch.Tensor) -> torch.Tensor:
    """0 where `mask` is true, GenRec's -1e9 where it is false (what padding adds to attention scores)."""
    return torch.where(mask, torch.zeros_like(mask, dtype=torch.float32), torch.full_like(mask, -1e9, dtype=torch.float32))


def check(path: str) -> None:
    """ONNX's own checker on an exported graph (operators, types, shapes it can infer)."""
    onnx.checker.check_model(onnx.load(path), full_check=True)


@contextlib.contextmanager
def quiet_tracing() -> Iterator[None]:
    """Silences the tracer's warnings about Python numbers taken from shapes that are fixed (head width, layers)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        yield


def arguments(description: str, spec_help: str, reference_help: str) -> argparse.ArgumentParser:
    """The command line both samples share: the spec, the folder, the reference, the seed and the model's size."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--spec", required=True, help=spec_help)
    parser.add_argument("--out", required=True, help="the model folder to write")
    parser.add_argument("--reference", help=reference_help)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--dimension", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=2)
    return parser


class GraphOf(torch.nn.Module):
    """One exported graph's forward over a shared model (its parameters are the model's)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
