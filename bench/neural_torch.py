"""The transformer train step of bench/neural.ts in PyTorch (CPU), for the stepagent/PyTorch ratio.
Same shapes: vocab 256, d 64, 2 heads, 1 pre-LayerNorm block (ReLU MLP 4d), context 32, batch 64,
tied output, Adam. Prints ms per step."""
import sys
import time
import torch

torch.manual_seed(0)
V, D, H, T, B = 256, 64, 2, 32, 64
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        self.q, self.k, self.v, self.o = (torch.nn.Linear(D, D, bias=False) for _ in range(4))
        self.mlp = torch.nn.Sequential(torch.nn.Linear(D, 4 * D), torch.nn.ReLU(), torch.nn.Linear(4 * D, D))

    def forward(self, x, mask):
        h = self.ln1(x)
        split = lambda t: t.view(B, T, H, D // H).transpose(1, 2)
        att = (split(self.q(h)) @ split(self.k(h)).transpose(-1, -2)) / (D // H) ** 0.5 + mask
        ctx = (att.softmax(-1) @ split(self.v(h))).transpose(1, 2).reshape(B, T, D)
        x = x + self.o(ctx)
        return x + self.mlp(self.ln2(x))


tok = torch.nn.Embedding(V, D)
pos = torch.nn.Parameter(torch.zeros(T, D))
block, lnf = Block(), torch.nn.LayerNorm(D)
params = list(tok.parameters()) + [pos] + list(block.parameters()) + list(lnf.parameters())
opt = torch.optim.Adam(params, lr=1e-3)
ids = torch.randint(0, V, (B, T))
mask = torch.triu(torch.full((T, T), -1e9), 1)
target_mask = torch.zeros(B, T)
target_mask[:, -10:-1] = 1


def step():
    x = tok(ids) + pos
    logits = lnf(block(x, mask)) @ tok.weight.T
    logp = logits.log_softmax(-1)
    nxt = torch.cat([ids[:, 1:], torch.zeros(B, 1, dtype=torch.long)], 1)
    loss = -(logp.gather(-1, nxt[..., None])[..., 0] * target_mask).sum() / target_mask.sum()
    opt.zero_grad()
    loss.backward()
    opt.step()


step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
print((time.perf_counter() - t0) / steps * 1000)
