"""Milliseconds per DT training step, side by side: midt's DecisionTransformer vs a plain PyTorch reference of identical
shape (nn.TransformerEncoder, causal mask, written here) vs a TransformerLens HookedTransformer stack (when installed);
and the overhead of `run_with_cache` (all hooks) over a plain forward.

Each configuration runs interleaved rounds (midt, reference, TransformerLens, midt, ...), reporting the median.
Targets: midt <= 1.0x the reference, <= 0.8x TransformerLens; run_with_cache <= 1.5x a plain forward.

    .venv/bin/python benchmarks/dt_train.py [--rounds 5] [--steps 10]
"""
import argparse, statistics, time

import torch
from torch import nn

from midt.models.decision_transformer import DecisionTransformer, example_inputs
from midt.training.trainer import action_loss
from midt.utils.config import DTModelConfig

SHAPES = {"seed default (d128 L3 H4 K20 B64)": dict(d=128, L=3, H=4, K=20, B=64),
          "quick start (d64 L2 H2 K10 B64)": dict(d=64, L=2, H=2, K=10, B=64)}
STATE_DIM, A = 323, 4


class Reference(nn.Module):
    "The same computation with stock PyTorch modules: linear embeddings, learned positions, pre-LN encoder, causal mask."
    def __init__(self, d, L, H, K):
        super().__init__()
        self.rtg, self.state, self.action = nn.Linear(1, d), nn.Linear(STATE_DIM, d), nn.Embedding(A + 1, d)
        self.time, self.pos = nn.Embedding(1001, d), nn.Embedding(3 * K, d)
        layer = nn.TransformerEncoderLayer(d, H, 4 * d, dropout=0.1, activation="gelu", batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, L, enable_nested_tensor=False)
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, A)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(3 * K))

    def forward(self, states, actions, returns_to_go, timesteps, attention_mask=None):
        t = self.time(timesteps)
        x = torch.stack([self.rtg(returns_to_go) + t, self.state(states) + t, self.action(actions) + t], 2)
        B, K = actions.shape
        x = x.reshape(B, 3 * K, -1) + self.pos.weight[:3 * K]
        return self.head(self.ln(self.enc(x, mask=self.mask, is_causal=True))[:, 1::3])


def transformer_lens_stack(d, L, H, K):
    try:
        from transformer_lens import HookedTransformer, HookedTransformerConfig
    except ImportError:
        return None
    cfg = HookedTransformerConfig(n_layers=L, d_model=d, n_heads=H, d_head=d // H, d_mlp=4 * d, n_ctx=3 * K, d_vocab=1,
                                  act_fn="gelu", normalization_type="LN", attn_only=False, positional_embedding_type="standard")
    tl = HookedTransformer(cfg)
    emb = nn.ModuleDict({"rtg": nn.Linear(1, d), "state": nn.Linear(STATE_DIM, d), "action": nn.Embedding(A + 1, d),
                         "time": nn.Embedding(1001, d), "head": nn.Linear(d, A)})

    class TL(nn.Module):
        def __init__(self): super().__init__(); self.tl, self.emb = tl, emb
        def forward(self, states, actions, returns_to_go, timesteps, attention_mask=None):
            t = self.emb["time"](timesteps)
            x = torch.stack([self.emb["rtg"](returns_to_go) + t, self.emb["state"](states) + t, self.emb["action"](actions) + t], 2)
            B, K = actions.shape
            x = x.reshape(B, 3 * K, -1)
            resid = x + self.tl.pos_embed(torch.zeros(B, 3 * K, dtype=torch.long))
            for block in self.tl.blocks: resid = block(resid)
            return self.emb["head"](self.tl.ln_final(resid)[:, 1::3])
    return TL()


def step_ms(model, batch, steps):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    def one():
        loss, _ = action_loss(model(**batch), batch["actions"], batch["attention_mask"])
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    one()
    t0 = time.perf_counter()
    for _ in range(steps): one()
    return (time.perf_counter() - t0) / steps * 1000


def forward_ms(fn, steps):
    with torch.no_grad():
        fn(); t0 = time.perf_counter()
        for _ in range(steps): fn()
    return (time.perf_counter() - t0) / steps * 1000


def flops_per_step(d, L, K, B):
    "Training FLOPs (forward x 3): matmuls of the blocks and attention, embeddings ignored."
    T = 3 * K
    fwd = B * L * (2 * T * 12 * d * d + 2 * 2 * T * T * d)
    return 3 * fwd


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10)
    a = p.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for label, s in SHAPES.items():
        cfg = DTModelConfig(embed_dim=s["d"], num_layers=s["L"], num_heads=s["H"], dropout=0.1, max_timestep=1000,
                            state_dim=STATE_DIM, action_dim=A)
        midt = DecisionTransformer(cfg, s["K"])
        batch = example_inputs(midt, batch=s["B"], pad=0)
        models = {"midt": midt, "midt, dropout 0": DecisionTransformer(cfg.model_copy(update={"dropout": 0.0}), s["K"]),
                  "reference (nn.TransformerEncoder)": Reference(s["d"], s["L"], s["H"], s["K"])}
        tl = transformer_lens_stack(s["d"], s["L"], s["H"], s["K"])
        if tl is not None: models["TransformerLens HookedTransformer"] = tl
        res = {k: [] for k in models}
        plain, cached = [], []
        for _ in range(a.rounds):
            for k, m in models.items(): res[k].append(step_ms(m, batch, a.steps))
            midt.eval()
            plain.append(forward_ms(lambda: midt(**batch), a.steps))
            cached.append(forward_ms(lambda: midt.run_with_cache(**batch), a.steps))
        ref = statistics.median(res["reference (nn.TransformerEncoder)"])
        print(f"\n{label}: ms per training step (median of {a.rounds} interleaved rounds of {a.steps} steps)")
        for k, v in res.items():
            m = statistics.median(v)
            print(f"  {k:36s} {m:8.1f} ms  {m / ref:5.2f}x reference  {flops_per_step(s['d'], s['L'], s['K'], s['B']) / m / 1e6:6.1f} GFLOP/s")
        if tl is None: print("  TransformerLens                      not installed (pip install transformer_lens) -- not measured")
        else:
            tlm = statistics.median(res["TransformerLens HookedTransformer"])
            print(f"  midt dropout 0 / TransformerLens     {statistics.median(res['midt, dropout 0']) / tlm:5.2f}x   (TransformerLens has no dropout)")
            print(f"  midt dropout 0.1 / TransformerLens   {statistics.median(res['midt']) / tlm:5.2f}x")
        pm, cm = statistics.median(plain), statistics.median(cached)
        print(f"  forward {pm:.1f} ms, run_with_cache (all {len(midt.hook_dict)} hooks) {cm:.1f} ms: {cm / pm:.2f}x")


if __name__ == "__main__":
    main()
