"""bench/hf.ts's model and steps in PyTorch (CPU, float32), for the stepagent/PyTorch ratio.

GPT-2 blocks (pre-LayerNorm, fused q/k/v, tanh-GELU MLP, tied output) with random weights, frozen;
LoRA r 8, alpha 16, dropout 0.05 on c_attn; Adam on the adapters. Forward: mean next-token loss
of the last S tokens of each row, without gradient; train step: the same loss, backward, Adam.
argv[1]: JSON {d, layers, heads, vocab, positions, B (forward), BT (train), T, S, steps, threads}. Prints one JSON line:
wall-clock and process CPU ms per step, peak RSS, thread counts.
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F

a = json.loads(sys.argv[1])
torch.set_num_threads(a["threads"])
torch.manual_seed(0)
d, L, H, V, P, T, S = a["d"], a["layers"], a["heads"], a["vocab"], a["positions"], a["T"], a["S"]
dh = d // H


def frozen(*shape, std=0.02):
    return (torch.randn(*shape) * std).requires_grad_(False)


wte, wpe = frozen(V, d), frozen(P, d)
layers = []
lora = []
for _ in range(L):
    layer = {
        "ln1": (torch.ones(d), torch.zeros(d)), "ln2": (torch.ones(d), torch.zeros(d)),
        "attn": (frozen(d, 3 * d), torch.zeros(3 * d)), "proj": (frozen(d, d), torch.zeros(d)),
        "fc": (frozen(d, 4 * d), torch.zeros(4 * d)), "out": (frozen(4 * d, d), torch.zeros(d)),
    }
    A = torch.empty(8, d).uniform_(-1 / math.sqrt(d), 1 / math.sqrt(d)).requires_grad_(True)
    Bm = torch.zeros(3 * d, 8, requires_grad=True)
    layer["lora"] = (A, Bm)
    lora += [A, Bm]
    layers.append(layer)
lnf = (torch.ones(d), torch.zeros(d))
mask = torch.full((T, T), float("-inf")).triu(1)


def forward(ids, training):
    B = ids.shape[0]
    x = wte[ids] + wpe[:T]
    for l in layers:
        h = F.layer_norm(x, (d,), *l["ln1"])
        A, Bm = l["lora"]
        qkv = h @ l["attn"][0] + l["attn"][1] + 2.0 * (F.dropout(h, 0.05, training) @ A.T @ Bm.T)
        q, k, v = (t.view(B, T, H, dh).transpose(1, 2) for t in qkv.split(d, -1))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + mask, -1)
        x = x + (att @ v).transpose(1, 2).reshape(B, T, d) @ l["proj"][0] + l["proj"][1]
        u = F.layer_norm(x, (d,), *l["ln2"]) @ l["fc"][0] + l["fc"][1]
        x = x + F.gelu(u, approximate="tanh") @ l["out"][0] + l["out"][1]
    h = F.layer_norm(x[:, T - 1 - S:T - 1], (d,), *lnf)
    return F.cross_entropy((h @ wte.T).reshape(-1, V), ids[:, T - S:].reshape(-1))


ids = torch.randint(0, V, (max(a["B"], a["BT"]), T))
opt = torch.optim.Adam(lora, lr=1e-4)


def timed(f, steps):
    """Wall-clock and process CPU (all threads) ms per step, after a warm-up step."""
    f()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        f()
    return (time.perf_counter() - t0) / steps * 1000, (time.process_time() - c0) / steps * 1000


def fwd():
    with torch.no_grad():
        forward(ids[:a["B"]], False).item()


def train():
    opt.zero_grad()
    loss = forward(ids[:a["BT"]], True)
    loss.backward()
    opt.step()


forward_ms, forward_cpu_ms = timed(fwd, a["steps"])
train_ms, train_cpu_ms = timed(train, a["steps"])
out = {"forward_ms": forward_ms, "train_ms": train_ms, "forward_cpu_ms": forward_cpu_ms, "train_cpu_ms": train_cpu_ms, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads()}
print(json.dumps(out))
