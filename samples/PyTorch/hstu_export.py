"""An HSTU-shaped ranker written in PyTorch, exported with torch.onnx.export to the three graphs GenRec serves
(`history.onnx`, `candidates.onnx`, `extend.onnx`; docs/onnx-contract.md, "HSTU rankers"), with a manifest.

The model reads a history as interleaved item and action tokens (GenRec's `HstuGraphContract.EncodeHistory`) through
HSTU layers: pointwise SiLU attention, gated by U, with a relative position bias (distance between two tokens) and a
time bias (bucketed gap between their times), causal, padding never attended. Nothing depends on a token's absolute
place, so left padding changes nothing and appended events leave the history's keys and values as they are: the
candidates graph scores every candidate against the history's cached keys and values (M-FALCON: candidates see the
history and themselves, not each other), and the extend graph computes only appended tokens.

    python3 samples/PyTorch/hstu_export.py --spec spec.json --out model/ [--reference reference.json]

`spec.json`: `items` (item ids; row r is items[r - 1]), `maxHistory`, `ratingWeight`; with `--reference`, also
`cases`, each a history's tokens (`items`, `actions`, `times`: rows, action tokens, seconds, 2 per event) with a
`requestTime` and `candidates` (rows); the script then writes PyTorch's two logits for every candidate, computed by
one causal pass over the history with the candidate appended (no cache), for a parity check of the served graphs.
A team trains its model where `train_here` stands; this script exports a seeded, untrained one.
"""

from __future__ import annotations

import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from genrec_onnx import OPSET, GraphOf, arguments, check, graph_entry, producer, quiet_tracing, write_manifest

ACTIONS = 20
CANDIDATE_ACTION = 19
TIME_BUCKETS = 41  # 0 for a gap under a second, k for a gap in [2^(k-1), 2^k) seconds, up to 2^39


class HstuBlock(nn.Module):
    """One HSTU layer: U, V, Q, K = SiLU(f1(LN(x))); x += f2(LN(SiLU attention · V) ⊙ U)."""

    def __init__(self, d: int):
        super().__init__()
        self.norm_in, self.f1, self.norm_attention, self.f2 = nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.LayerNorm(d), nn.Linear(d, d)


class HstuModel(nn.Module):
    def __init__(self, items: int, max_history: int, d: int = 32, heads: int = 2, layers: int = 2):
        super().__init__()
        self.items, self.max_history, self.d, self.heads, self.width, self.layers = items, max_history, d, heads, d // heads, layers
        self.item = nn.Embedding(items + 1, d, padding_idx=0)
        self.action = nn.Embedding(ACTIONS, d, padding_idx=0)
        self.position_bias = nn.Parameter(torch.randn(layers, 2 * max_history + 1, heads) * 0.2)
        self.time_bias = nn.Parameter(torch.randn(layers, TIME_BUCKETS, heads) * 0.2)
        self.blocks = nn.ModuleList(HstuBlock(d) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(2 * d, 2)
        self.register_buffer("powers", 2 ** torch.arange(TIME_BUCKETS - 1, dtype=torch.long))
        self.scale = 1.0 / math.sqrt(self.width)
        self.normaliser = float(2 * max_history)  # a constant, so padding never changes an output

    def heads_of(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, d] → [B, H, T, D]."""
        return x.reshape(x.shape[0], x.shape[1], self.heads, self.width).transpose(1, 2)

    def project(self, block: HstuBlock, x: torch.Tensor):
        u, v, q, k = F.silu(block.f1(block.norm_in(x))).chunk(4, -1)
        return u, self.heads_of(v), self.heads_of(q), self.heads_of(k)

    def mix(self, block: HstuBlock, x: torch.Tensor, u: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        """x + f2(LN(attended) ⊙ U), attended [B, H, T, D]."""
        merged = attended.transpose(1, 2).reshape(x.shape[0], x.shape[1], self.d)
        return x + block.f2(block.norm_attention(merged) * u)

    def bias(self, layer: int, distance: torch.Tensor, gap: torch.Tensor) -> torch.Tensor:
        """Position bias by token distance (clamped to the window) plus time bias by gap bucket: [..., H]."""
        bucket = (gap.abs().unsqueeze(-1) >= self.powers).sum(-1)
        return F.embedding(distance.clamp(0, 2 * self.max_history), self.position_bias[layer]) + F.embedding(bucket, self.time_bias[layer])

    def tokens(self, items: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.item(items) + self.action(actions), ((items + actions) != 0).float()

    def attend(self, layer, q, keys, values, distance, gap, allowed):
        """SiLU attention of queries [B, H, Q, D] over [B, H, K, D], bias from distance/gap [B, Q, K], allowed [B, Q, K]."""
        scores = q @ keys.transpose(-1, -2) * self.scale + self.bias(layer, distance, gap).permute(0, 3, 1, 2)
        return (F.silu(scores) * allowed[:, None] / self.normaliser) @ values

    def sequence(self, items, actions, times):
        """The whole causal pass over tokens [B, L]: outputs [B, L, d] (normalised) and every layer's keys and values."""
        x, mask = self.tokens(items, actions)
        place = torch.cumsum(torch.ones_like(items), 1)
        distance = place[:, :, None] - place[:, None, :]
        gap = times[:, :, None] - times[:, None, :]
        allowed = (distance >= 0).float() * mask[:, None, :]
        keys, values = [], []
        for layer, block in enumerate(self.blocks):
            u, v, q, k = self.project(block, x)
            x = self.mix(block, x, u, self.attend(layer, q, k, v, distance, gap, allowed))
            keys.append(k)
            values.append(v)
        return self.norm(x), torch.stack(keys), torch.stack(values)

    def logits(self, state: torch.Tensor, last_state: torch.Tensor) -> torch.Tensor:
        """Candidate states [B, M, d] and the history's last state [B, d] → [B, M, 2]: interacts, rates ≥ 4."""
        return self.head(torch.cat([state, state * last_state[:, None, :]], -1))

    def reference(self, items, actions, times, request_time: int, candidates) -> torch.Tensor:
        """
        What the graphs must compute, without any cache: for each candidate, one causal pass over the history with the
        candidate token appended (at the request's time); one history [1, L], candidates [M] → [M, 2].
        """
        outputs, _, _ = self.sequence(items, actions, times)
        m = candidates.shape[0]
        seq_items = torch.cat([items.expand(m, -1), candidates[:, None]], 1)
        seq_actions = torch.cat([actions.expand(m, -1), torch.full((m, 1), CANDIDATE_ACTION)], 1)
        seq_times = torch.cat([times.expand(m, -1), torch.full((m, 1), request_time)], 1)
        states, _, _ = self.sequence(seq_items, seq_actions, seq_times)
        return self.logits(states[None, :, -1], outputs[:, -1])[0]


class History(GraphOf):
    def forward(self, token_items, token_actions, token_times):
        outputs, keys, values = self.model.sequence(token_items, token_actions, token_times)
        return keys, values, outputs[:, -1]


class Candidates(GraphOf):
    def forward(self, history_keys, history_values, last_state, token_times, token_mask, candidates, request_time):
        m = self.model
        x = m.item(candidates) + m.action.weight[CANDIDATE_ACTION]
        ones = torch.ones_like(token_times)
        # The candidate sits right after the history: its distance to token j is L - j (padding-invariant).
        distance = (ones.sum(1, keepdim=True) + 1 - torch.cumsum(ones, 1))[:, None, :]
        gap = (request_time[:, None] - token_times)[:, None, :]
        allowed = token_mask[:, None, :]
        zero = torch.zeros_like(request_time)[:, None, None]
        for layer, block in enumerate(m.blocks):
            u, v, q, k = m.project(block, x)
            from_history = m.attend(layer, q, history_keys[layer], history_values[layer], distance, gap, allowed)
            # Itself at distance 0 and gap 0; candidates do not see each other.
            own = (q * k).sum(-1, keepdim=True) * m.scale + m.bias(layer, zero, zero).permute(0, 3, 1, 2)
            x = m.mix(block, x, u, from_history + F.silu(own) / m.normaliser * v)
        return m.logits(m.norm(x), last_state)


class Extend(GraphOf):
    def forward(self, history_keys, history_values, history_times, history_mask, token_items, token_actions, token_times):
        m = self.model
        x, mask = m.tokens(token_items, token_actions)
        times = torch.cat([history_times, token_times], 1)
        place = torch.cumsum(torch.ones_like(times), 1)
        appended_place = torch.cumsum(torch.ones_like(token_times), 1) + torch.ones_like(history_times).sum(1, keepdim=True)
        distance = appended_place[:, :, None] - place[:, None, :]
        gap = token_times[:, :, None] - times[:, None, :]
        allowed = (distance >= 0).float() * torch.cat([history_mask, mask], 1)[:, None, :]
        keys, values = [], []
        for layer, block in enumerate(m.blocks):
            u, v, q, k = m.project(block, x)
            all_keys, all_values = torch.cat([history_keys[layer], k], 2), torch.cat([history_values[layer], v], 2)
            x = m.mix(block, x, u, m.attend(layer, q, all_keys, all_values, distance, gap, allowed))
            keys.append(k)
            values.append(v)
        return torch.stack(keys), torch.stack(values), m.norm(x)[:, -1]


def export(model: HstuModel, folder: str, items: list[int], rating_weight: float) -> dict:
    """Exports the three graphs into `folder` with torch.onnx.export and writes the manifest; returns it."""
    os.makedirs(folder, exist_ok=True)
    model.eval()
    b, l, mm, t = 2, 2 * model.max_history, 3, 2
    token_items = torch.zeros(b, l, dtype=torch.long)
    token_items[:, ::2] = torch.randint(1, model.items + 1, (b, l // 2))
    token_actions = torch.zeros(b, l, dtype=torch.long)
    token_actions[:, 1::2] = torch.randint(1, 19, (b, l // 2))
    token_times = torch.arange(l).repeat(b, 1) * 60
    tokens = {0: "batch", 1: "tokens"}
    cache = {1: "batch", 3: "tokens"}
    with torch.no_grad(), quiet_tracing():
        torch.onnx.export(
            History(model), (token_items, token_actions, token_times), os.path.join(folder, "history.onnx"), opset_version=OPSET,
            input_names=["token_items", "token_actions", "token_times"], output_names=["history_keys", "history_values", "last_state"],
            dynamic_axes={"token_items": tokens, "token_actions": tokens, "token_times": tokens,
                          "history_keys": cache, "history_values": cache, "last_state": {0: "batch"}})
        keys, values, last = History(model)(token_items, token_actions, token_times)
        mask = ((token_items + token_actions) != 0).float()
        candidates = torch.randint(1, model.items + 1, (b, mm))
        request_time = torch.full((b,), int(token_times.max()) + 60)
        torch.onnx.export(
            Candidates(model), (keys, values, last, token_times, mask, candidates, request_time),
            os.path.join(folder, "candidates.onnx"), opset_version=OPSET,
            input_names=["history_keys", "history_values", "last_state", "token_times", "token_mask", "candidates", "request_time"],
            output_names=["scores"],
            dynamic_axes={"history_keys": cache, "history_values": cache, "last_state": {0: "batch"}, "token_times": tokens,
                          "token_mask": tokens, "candidates": {0: "batch", 1: "candidates"}, "request_time": {0: "batch"},
                          "scores": {0: "batch", 1: "candidates"}})
        p = l - t
        appended = {0: "batch", 1: "appended"}
        torch.onnx.export(
            Extend(model),
            (keys[:, :, :, :p], values[:, :, :, :p], token_times[:, :p], mask[:, :p], token_items[:, p:], token_actions[:, p:], token_times[:, p:]),
            os.path.join(folder, "extend.onnx"), opset_version=OPSET,
            input_names=["history_keys", "history_values", "history_times", "history_mask", "token_items", "token_actions", "token_times"],
            output_names=["appended_keys", "appended_values", "last_state"],
            dynamic_axes={"history_keys": cache, "history_values": cache, "history_times": tokens, "history_mask": tokens,
                          "token_items": appended, "token_actions": appended, "token_times": appended,
                          "appended_keys": {1: "batch", 3: "appended"}, "appended_values": {1: "batch", 3: "appended"},
                          "last_state": {0: "batch"}})
    for graph in ("history.onnx", "candidates.onnx", "extend.onnx"):
        check(os.path.join(folder, graph))
    manifest = {
        "format": "genrec-hstu-onnx", "formatVersion": 2, "producer": producer(),
        "layers": model.layers, "heads": model.heads, "headDimension": model.width, "maxHistory": model.max_history,
        "items": items, "crossFeatures": [], "ratingWeight": rating_weight, "opset": OPSET,
        "history": graph_entry(folder, "history.onnx"), "candidates": graph_entry(folder, "candidates.onnx"),
        "extend": graph_entry(folder, "extend.onnx"),
    }
    write_manifest(folder, manifest)
    return manifest


def main() -> None:
    parser = arguments(__doc__.split("\n\n")[0], "JSON: items, maxHistory, ratingWeight (+ cases for --reference)", "where to write PyTorch's logits for every case's candidates")
    args = parser.parse_args()
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    torch.manual_seed(args.seed)
    model = HstuModel(len(spec["items"]), spec["maxHistory"], d=args.dimension, heads=args.heads, layers=args.layers)
    # train_here: a team fits the model on its histories here (next item and its action, sampled softmax).
    model.eval()
    manifest = export(model, args.out, spec["items"], spec.get("ratingWeight", 0.0))
    print(f"exported an HSTU ranker ({manifest['layers']} layers, d {args.dimension}, {len(spec['items'])} items) to {args.out}", flush=True)
    if args.reference:
        def tensor(values):
            return torch.tensor([values], dtype=torch.long)

        logits = []
        with torch.no_grad():
            for case in spec["cases"]:
                tokens = case["items"] or [0, 0]  # an empty history is two padding tokens, as the runtime passes it
                actions = case["actions"] or [0, 0]
                times = case["times"] or [0, 0]
                out = model.reference(tensor(tokens), tensor(actions), tensor(times), case["requestTime"], torch.tensor(case["candidates"], dtype=torch.long))
                logits.append(out.tolist())
        with open(args.reference, "w", encoding="utf-8") as f:
            json.dump({"logits": logits}, f)
        print(f"reference: {len(logits)} cases", flush=True)


if __name__ == "__main__":
    main()
