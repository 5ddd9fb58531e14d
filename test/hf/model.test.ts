import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend, tf } from "../../src/backend";
import { HfCausalLM } from "../../src/hf/model";
import { writeFixtureModel, type FixtureOptions } from "../../src/hf/fixture";
import { maxAbsDiff, referenceLogits } from "./reference";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hf-model-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

// Two rows of different lengths (the shorter padded at the end), ids across the whole vocabulary.
const ROWS = [
  [261, 259, 220, 86, 78, 81, 75, 67, 198, 263, 12, 40, 100, 150, 200, 250, 264],
  [5, 17, 261, 33, 259, 220, 7],
];

const CASES: [string, FixtureOptions][] = [
  ["gpt2 F32", { kind: "gpt2", seed: 1 }],
  ["gpt2 BF16, bare names, mask buffers, 2 shards", { kind: "gpt2", seed: 2, dtype: "BF16", bareGpt2Names: true, shards: 2, buffers: true }],
  ["llama F32 GQA untied, inv_freq buffers", { kind: "llama", seed: 3, heads: 4, kvHeads: 2, buffers: true }],
  [
    "llama BF16 tied, llama3 rope scaling",
    {
      kind: "llama",
      seed: 4,
      dtype: "BF16",
      tied: true,
      config: {
        rope_theta: 500000,
        rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8 },
      },
    },
  ],
  ["qwen2 F32 q/k/v biases, GQA", { kind: "qwen2", seed: 5, heads: 4, kvHeads: 1 }],
  ["qwen2 BF16", { kind: "qwen2", seed: 6, dtype: "BF16", heads: 2, kvHeads: 2 }],
  [
    "mistral F16 linear rope scaling, head_dim",
    { kind: "mistral", seed: 7, dtype: "F16", heads: 2, kvHeads: 1, config: { head_dim: 6, rope_scaling: { type: "linear", factor: 2 } } },
  ],
];

for (const [name, options] of CASES) {
  test(`${name}: logits match the PyTorch reference, whole sequence and through the KV cache`, async () => {
    await initBackend();
    const dir = path.join(tmp, name.replace(/[^a-z0-9]+/gi, "_"));
    writeFixtureModel(dir, options);
    const model = HfCausalLM.load(dir);
    const V = model.config.vocabSize;
    // Whole sequences, batched with end padding: compare each row against the reference run on that row alone.
    const T = Math.max(...ROWS.map((r) => r.length));
    const ids = new Int32Array(2 * T);
    ROWS.forEach((r, b) => ids.set(r, b * T));
    const logits = tf.tidy(() => model.logits(tf.tensor2d(ids, [2, T], "int32")));
    const got = logits.dataSync();
    logits.dispose();
    let worst = 0;
    const refs = ROWS.map((r) => referenceLogits(dir, [r])[0]);
    ROWS.forEach((r, b) => (worst = Math.max(worst, maxAbsDiff(got.subarray(b * T * V, (b + 1) * T * V), [refs[b]], r.length, [r.length]))));
    assert.ok(worst <= 1e-4, `max |Δ| ${worst}`);
    // Reference logits are not trivially small (the comparison has something to compare).
    const spread = Math.max(...refs[0][3]) - Math.min(...refs[0][3]);
    assert.ok(spread > 1, `logit spread ${spread}`);

    // KV cache: prompts of 5 and 3 tokens, then the rest of each row one token at a time.
    const starts = [5, 3];
    const steps = Math.max(...ROWS.map((r, b) => r.length - starts[b]));
    const dec = model.decoder(
      ROWS.map((r, b) => r.slice(0, starts[b])),
      steps,
    );
    let worstCache = 0;
    const check = (rows: Float32Array, pos: number[]) =>
      pos.forEach((t, b) => {
        if (t >= ROWS[b].length) return;
        for (let v = 0; v < V; v++) worstCache = Math.max(worstCache, Math.abs(rows[b * V + v] - refs[b][t][v]));
      });
    check(
      await dec.first(),
      starts.map((s) => s - 1),
    );
    for (let j = 0; j < steps - 1; j++) {
      const next = ROWS.map((r, b) => r[Math.min(starts[b] + j, r.length - 1)]);
      check(
        await dec.next(next),
        starts.map((s) => s + j),
      );
    }
    dec.dispose();
    assert.ok(worstCache <= 1e-4, `KV cache max |Δ| ${worstCache}`);
    console.log(`# ${name}: max |Δ| vs torch ${worst.toExponential(2)} (whole), ${worstCache.toExponential(2)} (KV cache)`);
    model.dispose();
  });
}
