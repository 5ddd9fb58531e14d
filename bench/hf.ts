/**
 * A pretrained-size causal LM in stepagent: GPT-2-small's shape (124M parameters: d 768, 12 layers,
 * 12 heads, vocab 50257; random weights — no model can be downloaded here), batch 8 × 256 tokens.
 * Times the forward pass and one LoRA train step (default adapters: r 8 on c_attn; Adam on the
 * adapters; base frozen; blocks recomputed in the backward pass, the default for training at this
 * size) on each backend that loads, then the same model and step in Debian's PyTorch
 * (bench/hf_torch.py, which keeps every activation) as a ratio. The loss is what a policy computes: the mean next-token
 * NLL of the last BENCH_HF_SCORED (32) tokens of each sequence — an action after its state — so
 * the output projection runs at those positions only; BENCH_HF_SCORED=all scores every position
 * (a language-modelling loss).
 *
 * Reported: wall-clock ms, tokens/s, achieved GFLOP/s, process CPU time (all threads; steadier than
 * wall-clock time on a machine shared with other jobs, though PyTorch's threads may spin while they
 * wait and count that), memory (process peak RSS; the wasm heap, which only
 * grows, so its size is the peak; tf.js bytes in tensors at the end of the forward pass).
 * FLOPs: forward = 2 · (matrix parameters except the output projection) · B · T + 2 · V · d · B · S
 * (the output projection at the S scored positions) + 4 · layers · B · T² · d for the attention
 * products (full T × T, as both implementations compute it); a train step with a frozen base
 * counts 2 × forward (forward + input gradients; no weight gradients except the adapters', which
 * are negligible; recomputation is not counted as useful work).
 *
 * Environment: BENCH_HF=0 skips this bench (it takes several minutes on 2 cores); BENCH_HF_SCORED
 * (32 | all); BENCH_HF_SHAPE = gpt2-small (default) | tiny (d 64, 2 layers, vocab 512, for a quick
 * check); BENCH_HF_BATCH (8, the forward pass), BENCH_HF_TRAIN_BATCH (8, the train step),
 * BENCH_HF_TOKENS (256), BENCH_HF_STEPS (timed repetitions after one warm-up; 1), BENCH_HF_RECOMPUTE
 * (auto | 1 | 0: ForwardOptions.recompute for the train step), BENCH_HF_BACKENDS (wasm),
 * STEPAGENT_THREADS (the wasm kernels' threads; PyTorch gets the same count for its intra-op pool).
 */
import { spawnSync } from "node:child_process";
import * as os from "node:os";
import { initBackend, tf, type BackendName } from "../src/backend";
import { kernelThreads } from "../src/backend/batch_matmul_wasm";
import { Rng } from "../src/core/rng";
import { parseConfig } from "../src/hf/config";
import { expectedTensors } from "../src/hf/config";
import { HfCausalLM, RECOMPUTE_ABOVE_BYTES } from "../src/hf/model";
import { Lora } from "../src/hf/lora";
import { AdamTrainer } from "../src/optim/adam";

const SHAPES: Record<string, { d: number; layers: number; heads: number; vocab: number; positions: number }> = {
  "gpt2-small": { d: 768, layers: 12, heads: 12, vocab: 50257, positions: 1024 },
  tiny: { d: 64, layers: 2, heads: 4, vocab: 512, positions: 256 },
};
// Fused multiply-adds in the wasm kernel (opt-in in the library, for identical seeded results on
// every CPU): the benchmark measures the fastest setting unless told otherwise.
process.env.STEPAGENT_WASM_FMA ??= "1";
const shapeName = process.env.BENCH_HF_SHAPE ?? "gpt2-small";
const shape = SHAPES[shapeName];
if (!shape) throw new Error(`BENCH_HF_SHAPE must be one of ${Object.keys(SHAPES).join(", ")}`);
const B = Number(process.env.BENCH_HF_BATCH ?? 8);
const BT = Number(process.env.BENCH_HF_TRAIN_BATCH ?? 8);
const T = Number(process.env.BENCH_HF_TOKENS ?? 256);
const STEPS = Number(process.env.BENCH_HF_STEPS ?? 1);
const RECOMPUTE = { auto: undefined, "1": true, "0": false }[process.env.BENCH_HF_RECOMPUTE ?? "auto"];
if (RECOMPUTE === undefined && (process.env.BENCH_HF_RECOMPUTE ?? "auto") !== "auto") throw new Error("BENCH_HF_RECOMPUTE must be auto, 1 or 0");
const backends = (process.env.BENCH_HF_BACKENDS ?? "wasm").split(",") as BackendName[];

const raw = { model_type: "gpt2", vocab_size: shape.vocab, n_embd: shape.d, n_layer: shape.layers, n_head: shape.heads, n_positions: shape.positions };
const config = parseConfig(raw);
const matrixParams = expectedTensors(config)
  .filter(([n, s]) => s.length === 2 && !n.endsWith("wpe.weight"))
  .reduce((a, [, s]) => a + s[0] * s[1], 0);
const params = expectedTensors(config).reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
const S = process.env.BENCH_HF_SCORED === "all" ? T - 1 : Number(process.env.BENCH_HF_SCORED ?? 32);
const headParams = shape.vocab * shape.d;
const forwardFlop = (b: number) => 2 * (matrixParams - headParams) * b * T + 2 * headParams * b * S + 4 * shape.layers * b * T * T * shape.d;

function weights(): Map<string, Float32Array> {
  const rng = new Rng(0).fork("bench-hf");
  const out = new Map<string, Float32Array>();
  for (const [name, s] of expectedTensors(config)) {
    const n = s.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith("ln_1.weight") || name.endsWith("ln_2.weight") || name.endsWith("ln_f.weight")) data.fill(1);
    else if (!name.endsWith(".bias")) for (let i = 0; i < n; i++) data[i] = 0.02 * rng.normal();
    out.set(name, data);
  }
  return out;
}

/** Mean next-token NLL of the last S tokens of each of the first b rows of ids [·, T]. */
function lmLoss(model: HfCausalLM, all: Int32Array, b: number, training: boolean, recompute?: boolean): tf.Scalar {
  const V = config.vocabSize;
  const ids = all.subarray(0, b * T);
  const inputs = tf.tensor2d(ids, [b, T], "int32");
  const positions = Int32Array.from({ length: b * S }, (_, i) => Math.floor(i / S) * T + (T - 1 - S) + (i % S));
  const targets = Int32Array.from(positions, (p, i) => i * V + ids[p + 1]);
  const logp = tf.logSoftmax(model.logitsAt(model.hidden(inputs, { training, recompute }), positions));
  return tf.neg(tf.mean(tf.gather(tf.reshape(logp, [-1]), tf.tensor1d(targets, "int32")))) as tf.Scalar;
}

const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
/** ", wasm heap N MiB" on the wasm backend: its memory only grows, so its size is the peak. */
function heap(): string {
  const bytes = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.byteLength;
  return bytes ? `, wasm heap ${mb(bytes)}` : "";
}
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
/** "N ms (tokens/s, GFLOP/s)" for a step over b rows of T tokens. */
const rate = (ms: number, b: number, train = false) =>
  `${ms.toFixed(0)} ms (${((b * T * 1000) / ms).toFixed(0)} tokens/s, ${(((train ? 2 : 1) * forwardFlop(b)) / ms / 1e6).toFixed(1)} GFLOP/s)`;

(async () => {
  if (process.env.BENCH_HF === "0") {
    console.log("HF causal LM bench: skipped (BENCH_HF=0)");
    return;
  }
  const threads = kernelThreads();
  const what = `${shapeName} shape (${(params / 1e6).toFixed(1)}M parameters, random weights), ${T} tokens per row, ${S} scored`;
  console.log(
    `HF causal LM bench: ${what}; forward at batch ${B}, LoRA train step at batch ${BT}; ${threads} thread(s), ${os.cpus().length} cores, load average ${loadavg()}`,
  );
  const rng = new Rng(1);
  const ids = Int32Array.from({ length: Math.max(B, BT) * T }, () => rng.int(config.vocabSize));
  const results: Record<string, { forward: number; train: number; forwardCpu: number; trainCpu: number }> = {};
  for (const backend of backends) {
    try {
      await initBackend(backend);
    } catch (e) {
      console.log(`${backend}: skipped (${(e as Error).message})`);
      continue;
    }
    const model = new HfCausalLM(config, weights());
    const lora = Lora.attach(model, { seed: 0 });
    /** Wall-clock ms and process CPU ms (all threads) per step, after a warm-up step. */
    const time = async (f: () => Promise<void>) => {
      await f(); // warm-up
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (let i = 0; i < STEPS; i++) await f();
      const c = process.cpuUsage(c0);
      return [(performance.now() - t0) / STEPS, (c.user + c.system) / 1000 / STEPS];
    };
    const recomputed = RECOMPUTE ?? model.activationBytes(BT, T) > RECOMPUTE_ABOVE_BYTES;
    const [forward, forwardCpu] = await time(async () => {
      const l = tf.tidy(() => lmLoss(model, ids, B, false));
      await l.data();
      l.dispose();
    });
    console.log(`${backend.padEnd(4)} forward ${rate(forward, B)}, CPU ${sec(forwardCpu)}; peak RSS so far ${mb(process.resourceUsage().maxRSS * 1024)}`);
    const trainer = new AdamTrainer(lora.variables(), 1e-4);
    let lossTensorBytes = 0;
    const [train, trainCpu] = await time(async () => {
      await trainer.step(() => {
        const l = lmLoss(model, ids, BT, true, RECOMPUTE);
        lossTensorBytes = Math.max(lossTensorBytes, tf.memory().numBytes);
        return l;
      });
    });
    trainer.dispose();
    results[backend] = { forward, train, forwardCpu, trainCpu };
    console.log(
      `${backend.padEnd(4)} LoRA train step ${rate(train, BT, true)}, CPU ${sec(trainCpu)}, blocks ${recomputed ? "recomputed" : "kept"}; ` +
        `memory: peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}${heap()}, tensors ${mb(lossTensorBytes)} when the loss is formed`,
    );
    lora.dispose();
    model.dispose();
  }
  const probe = spawnSync("/usr/bin/python3", ["-c", "import torch"], { encoding: "utf8" });
  if (probe.status !== 0) {
    console.log("PyTorch: not available (/usr/bin/python3 cannot import torch; apt-get install python3-torch to compare)");
    return;
  }
  const py = spawnSync("/usr/bin/python3", [__dirname + "/hf_torch.py", JSON.stringify({ ...shape, B, BT, T, S, steps: STEPS, threads })], {
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  let torch: {
    forward_ms: number;
    train_ms: number;
    forward_cpu_ms: number;
    train_cpu_ms: number;
    maxrss_mb: number;
    threads: number;
    interop_threads: number;
  };
  try {
    torch = JSON.parse(py.stdout.trim().split("\n").pop() ?? "");
  } catch {
    console.log(`PyTorch: failed (${py.stderr.trim().split("\n").pop()})`);
    return;
  }
  const torchLine =
    `PyTorch CPU forward ${rate(torch.forward_ms, B)}, CPU ${sec(torch.forward_cpu_ms)}; ` +
    `LoRA train step ${rate(torch.train_ms, BT, true)}, CPU ${sec(torch.train_cpu_ms)}`;
  console.log(`${torchLine}; peak RSS ${torch.maxrss_mb.toFixed(0)} MiB; ${torch.threads} intra-op / ${torch.interop_threads} inter-op threads`);
  for (const [b, r] of Object.entries(results)) {
    console.log(
      `ratio stepagent(${b})/PyTorch: forward ${(r.forward / torch.forward_ms).toFixed(2)}, LoRA train step ${(r.train / torch.train_ms).toFixed(2)}; ` +
        `in CPU time: forward ${(r.forwardCpu / torch.forward_cpu_ms).toFixed(2)}, LoRA train step ${(r.trainCpu / torch.train_cpu_ms).toFixed(2)}`,
    );
  }
  console.log(`load average at the end ${loadavg()}`);
})().catch((e) => {
  console.error(`bench/hf: ${(e as Error).message}`);
  process.exit(1);
});
