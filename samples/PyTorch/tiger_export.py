"""A TIGER-shaped generative retrieval model written in PyTorch, exported with torch.onnx.export to the two graphs
GenRec serves (`context.onnx`, `step.onnx`; docs/onnx-contract.md), with a manifest beside them.

The model is an encoder-decoder transformer over semantic-ID tokens: the encoder reads the history once (the
context graph hands the decoder's cross-attention keys and values to every step), the decoder writes the next item
one code at a time with a key/value cache that the step graph reorders by `beam_index`.

    python3 samples/PyTorch/tiger_export.py --spec spec.json --out model/ [--reference reference.json]

`spec.json` names what the model must agree on with the semantic-ID index it serves: `vocabularySizes`,
`indexFingerprint`, `indexVersion` and `items` (every item's codes), as `genrec index inspect INDEX --spec spec.json`
writes it, and optionally `maxHistoryItems`; with `--reference`, also `histories` (encoded token histories), and the
script writes PyTorch's own log-probability of every item after each history, computed without the cache (the whole
decoder sequence at once), for a parity check of the served graphs.
A team trains its model where `train_here` stands; this script exports a seeded, untrained one.
"""

from __future__ import annotations

import json
import math
import os

import torch
from torch import nn

from genrec_onnx import OPSET, GraphOf, arguments, attention_bias, check, graph_entry, producer, quiet_tracing, write_manifest

PAD, BOS = 0, 1
NEG = -1e9


class Block(nn.Module):
    """Pre-norm attention projections and a feed-forward layer; `cross` adds a second attention (over the history)."""

    def __init__(self, d: int, heads: int, ffn: int, cross: bool):
        super().__init__()
        self.heads, self.width = heads, d // heads
        self.norm1, self.qkv, self.out = nn.LayerNorm(d), nn.Linear(d, 3 * d), nn.Linear(d, d)
        if cross:
            self.norm2, self.q2, self.kv2, self.out2 = nn.LayerNorm(d), nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.norm3, self.ffn = nn.LayerNorm(d), nn.Sequential(nn.Linear(d, ffn), nn.GELU(), nn.Linear(ffn, d))

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """[..., T, d] → [..., H, T, D]."""
        return x.reshape(x.shape[:-1] + (self.heads, self.width)).transpose(-3, -2)

    def merge(self, x: torch.Tensor) -> torch.Tensor:
        """[..., H, T, D] → [..., T, d]."""
        x = x.transpose(-3, -2)
        return x.reshape(x.shape[:-2] + (self.heads * self.width,))

    def cross_keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cross-attention keys and values of an encoded history [B, C, d]: each [B, H, C, D]."""
        k, v = self.kv2(memory).chunk(2, -1)
        return self.split(k), self.split(v)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Softmax attention of queries [..., Q, D] over keys and values [..., K, D], with an additive bias."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(k.shape[-1])  # D is fixed: a constant in the graph
    if bias is not None:
        scores = scores + bias
    return torch.softmax(scores, -1) @ v


class TigerModel(nn.Module):
    """Encoder-decoder over semantic-ID tokens (GenRec's numbering: 0 padding, 1 BOS, then one range per position)."""

    def __init__(self, sizes: list[int], max_history_items: int, d: int = 32, heads: int = 2, layers: int = 2, ffn: int = 64):
        super().__init__()
        self.sizes, self.positions, self.width = sizes, len(sizes), max(sizes)
        self.offsets = [2]
        for s in sizes[:-1]:
            self.offsets.append(self.offsets[-1] + s)
        self.history_tokens = 1 + max_history_items * len(sizes)
        self.max_history_items, self.d, self.heads, self.layers = max_history_items, d, heads, layers
        self.token = nn.Embedding(2 + sum(sizes), d)
        self.encoder_position = nn.Embedding(self.history_tokens, d)
        self.decoder_position = nn.Embedding(len(sizes), d)
        self.encoder = nn.ModuleList(Block(d, heads, ffn, cross=False) for _ in range(layers))
        self.decoder = nn.ModuleList(Block(d, heads, ffn, cross=True) for _ in range(layers))
        self.encoder_norm, self.decoder_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.head = nn.Parameter(torch.randn(len(sizes), d, self.width) / math.sqrt(d))
        self.head_bias = nn.Parameter(torch.zeros(len(sizes), self.width))
        mask = torch.zeros(len(sizes), self.width)
        for p, s in enumerate(sizes):
            mask[p, s:] = NEG  # codes past a position's size are never chosen
        self.register_buffer("head_mask", mask)

    def encode(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A right-aligned history [B, T] → memory [B, T, d] and its attention bias [B, 1, 1, T]."""
        ones = torch.ones_like(history)
        # Absolute positions counted from the right end, so trimming common left padding changes nothing.
        position = torch.cumsum(ones, 1) - 1 + (self.history_tokens - ones.sum(1, keepdim=True))
        x = self.token(history) + self.encoder_position(position)
        bias = attention_bias(history != PAD)[:, None, None, :]
        for block in self.encoder:
            h = block.norm1(x)
            q, k, v = (block.split(t) for t in block.qkv(h).chunk(3, -1))
            x = x + block.out(block.merge(attend(q, k, v, bias)))
            x = x + block.ffn(block.norm3(x))
        return self.encoder_norm(x), bias

    def logits(self, x: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of position `step`'s codes from decoder states [..., d]."""
        at = step.reshape(1)
        head = self.head.index_select(0, at).squeeze(0)
        extra = (self.head_bias + self.head_mask).index_select(0, at).squeeze(0)
        return torch.log_softmax(self.decoder_norm(x) @ head + extra, -1)

    def score_items(self, history: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """
        Reference scoring without a cache: log p(item | history) for every item of `codes` [I, P] after one history
        [1, T], the decoder reading [BOS, code tokens but the last] causally, as training would.
        """
        memory, bias = self.encode(history)
        items = codes.shape[0]
        offsets = torch.tensor(self.offsets[:-1], dtype=torch.long)
        tokens = torch.cat([torch.full((items, 1), BOS, dtype=torch.long), codes[:, :-1] + offsets], 1)
        x = self.token(tokens) + self.decoder_position.weight[None, : self.positions]
        causal = torch.triu(torch.full((self.positions, self.positions), NEG), 1)
        for block in self.decoder:
            h = block.norm1(x)
            q, k, v = (block.split(t) for t in block.qkv(h).chunk(3, -1))
            x = x + block.out(block.merge(attend(q, k, v, causal)))
            ck, cv = block.cross_keys_values(memory)
            x = x + block.out2(block.merge(attend(block.split(block.q2(block.norm2(x))), ck, cv, bias)))
            x = x + block.ffn(block.norm3(x))
        total = torch.zeros(items)
        for p in range(self.positions):
            total = total + self.logits(x[:, p], torch.tensor(p)).gather(1, codes[:, p : p + 1]).squeeze(1)
        return total


class Context(GraphOf):
    """context.onnx: reads the histories once."""

    def forward(self, history: torch.Tensor):
        memory, bias = self.model.encode(history)
        keys, values = zip(*(block.cross_keys_values(memory) for block in self.model.decoder))
        return torch.stack(keys), torch.stack(values), bias, torch.full_like(history[:, 0], BOS)


class Step(GraphOf):
    """step.onnx: one code position for every beam, with the cache gathered by beam_index."""

    def forward(self, token, step, context_keys, context_values, context_bias, past_keys, past_values, beam_index):
        m = self.model
        b, k = token.shape[0], token.shape[1]
        x = m.token(token) + m.decoder_position.weight.index_select(0, step.reshape(1))  # [B, K, d]
        past_keys, past_values = past_keys.index_select(1, beam_index), past_values.index_select(1, beam_index)
        present_keys, present_values = [], []
        for layer, block in enumerate(m.decoder):
            h = block.norm1(x).reshape(b * k, 1, m.d)
            q, key, value = (block.split(t) for t in block.qkv(h).chunk(3, -1))  # each [N, H, 1, D]
            keys = torch.cat([past_keys[layer], key], 2)
            values = torch.cat([past_values[layer], value], 2)
            present_keys.append(keys)
            present_values.append(values)
            x = x + block.out(block.merge(attend(q, keys, values, None))).reshape(b, k, m.d)
            # Beams attend to their request's context rows: queries [B, H, K, D] against [B, H, C, D].
            q2 = block.split(block.q2(block.norm2(x)))
            x = x + block.out2(block.merge(attend(q2, context_keys[layer], context_values[layer], context_bias)))
            x = x + block.ffn(block.norm3(x))
        return m.logits(x, step), torch.stack(present_keys), torch.stack(present_values)


def export(model: TigerModel, folder: str, index_fingerprint: str, index_version: int) -> dict:
    """Exports both graphs into `folder` with torch.onnx.export and writes the manifest; returns it."""
    os.makedirs(folder, exist_ok=True)
    model.eval()
    b, k, t, s = 2, 3, model.history_tokens, 1
    layers, heads, width = model.layers, model.heads, model.d // model.heads
    history = torch.randint(2, 2 + sum(model.sizes), (b, t))
    history[0, :3] = PAD
    with torch.no_grad(), quiet_tracing():
        torch.onnx.export(
            Context(model), (history,), os.path.join(folder, "context.onnx"), opset_version=OPSET,
            input_names=["history"], output_names=["context_keys", "context_values", "context_bias", "first_token"],
            dynamic_axes={"history": {0: "batch", 1: "history"},
                          "context_keys": {1: "batch", 3: "context"}, "context_values": {1: "batch", 3: "context"},
                          "context_bias": {0: "batch", 3: "context"}, "first_token": {0: "batch"}})
        keys, values, bias, _ = Context(model)(history)
        cache = torch.zeros(layers, b, heads, s, width)
        torch.onnx.export(
            Step(model),
            (torch.full((b, k), BOS), torch.tensor(1), keys, values, bias, cache, cache.clone(), torch.arange(b * k) // k),
            os.path.join(folder, "step.onnx"), opset_version=OPSET,
            input_names=["token", "step", "context_keys", "context_values", "context_bias", "past_keys", "past_values", "beam_index"],
            output_names=["log_probs", "present_keys", "present_values"],
            dynamic_axes={"token": {0: "batch", 1: "beams"},
                          "context_keys": {1: "batch", 3: "context"}, "context_values": {1: "batch", 3: "context"},
                          "context_bias": {0: "batch", 3: "context"},
                          "past_keys": {1: "past_rows", 3: "past"}, "past_values": {1: "past_rows", 3: "past"},
                          "beam_index": {0: "rows"}, "log_probs": {0: "batch", 1: "beams"},
                          "present_keys": {1: "rows", 3: "present"}, "present_values": {1: "rows", 3: "present"}})
    for graph in ("context.onnx", "step.onnx"):
        check(os.path.join(folder, graph))
    manifest = {
        "format": "genrec-generative-onnx", "formatVersion": 1, "producer": producer(),
        "architecture": "EncoderDecoder", "layers": layers, "heads": heads, "headDimension": width,
        "maxHistoryItems": model.max_history_items, "vocabularySizes": model.sizes,
        "indexFingerprint": index_fingerprint, "indexVersion": index_version, "opset": OPSET,
        "context": graph_entry(folder, "context.onnx"), "step": graph_entry(folder, "step.onnx"),
    }
    write_manifest(folder, manifest)
    return manifest


def main() -> None:
    parser = arguments(__doc__.split("\n\n")[0], "JSON: vocabularySizes, indexFingerprint, indexVersion, items (+ maxHistoryItems; histories for --reference)", "where to write PyTorch's log-probability of every item after each history")
    parser.add_argument("--max-history-items", type=int, help="history items the model reads (default: the spec's maxHistoryItems, else 50)")
    args = parser.parse_args()
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    torch.manual_seed(args.seed)
    max_history_items = args.max_history_items or spec.get("maxHistoryItems", 50)
    model = TigerModel(spec["vocabularySizes"], max_history_items, d=args.dimension, heads=args.heads, layers=args.layers)
    # train_here: a team fits the model on its sequences here (next-item codes, cross-entropy per position).
    model.eval()
    manifest = export(model, args.out, spec["indexFingerprint"], spec.get("indexVersion", 1))
    print(f"exported {manifest['architecture']} ({manifest['layers']} layers, d {args.dimension}) to {args.out}", flush=True)
    if args.reference:
        codes = torch.tensor(spec["items"], dtype=torch.long)
        with torch.no_grad():
            scores = [model.score_items(torch.tensor([h], dtype=torch.long), codes).tolist() for h in spec["histories"]]
        with open(args.reference, "w", encoding="utf-8") as f:
            json.dump({"logProbabilities": scores}, f)
        print(f"reference: {len(scores)} histories x {codes.shape[0]} items", flush=True)


if __name__ == "__main__":
    main()
