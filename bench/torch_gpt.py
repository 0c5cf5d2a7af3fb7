#!/usr/bin/env python3
"""torch_gpt.py - PyTorch CPU peer of engine-bench's training figure.

Trains the same gpt-small (byte-level GPT: L6 C256 NH8 T256, pre-LayerNorm
blocks, tanh-GELU MLP of width 4C, LM head tied to the token embedding,
AdamW with clipping at 1.0) at the same batch on this CPU and prints
tokens/s. Usage: python3 bench/torch_gpt.py [--steps N] [--batch B]
[--threads T]. Prints "n/a" and exits 0 when PyTorch is not installed.
"""
import argparse
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("torch gpt-small: n/a (PyTorch not installed)")
    raise SystemExit(0)

L, C, NH, T, V = 6, 256, 8, 256, 256


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.qkv, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc, self.fcproj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T_, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T_, NH, C // NH).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T_, C))
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.lnf = nn.LayerNorm(C)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        logits = self.lnf(x) @ self.wte.weight.T
        return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    data = torch.randint(32, 127, (a.batch, T + 1))

    def step():
        loss = model(data[:, :-1], data[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    step()  # warm-up
    t0 = time.perf_counter()
    best = None
    for _ in range(a.steps):
        ts = time.perf_counter()
        step()
        ts = time.perf_counter() - ts
        best = ts if best is None or ts < best else best
    dt = time.perf_counter() - t0
    n = sum(p.numel() for p in model.parameters())
    print(f"torch gpt-small ({n} parameters), batch {a.batch}, {torch.get_num_threads()} threads: "
          f"{a.batch * T * a.steps / dt:.0f} tokens/s ({dt / a.steps:.2f} s/step), "
          f"fastest step {a.batch * T / best:.0f} tokens/s")


if __name__ == "__main__":
    main()
