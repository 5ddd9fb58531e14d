import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend, tf } from "../../src/backend";
import { HfCausalLM } from "../../src/hf/model";
import { Lora } from "../../src/hf/lora";
import { writeFixtureModel } from "../../src/hf/fixture";

const BIN = path.resolve(__dirname, "../../dist/cli/main.js");
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, "train", ...args], { encoding: "utf8" });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hf-cli-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
const model = path.join(tmp, "model");
writeFixtureModel(model, { kind: "llama", seed: 31, config: { max_position_embeddings: 512 } });
const tiny = [
  "--env",
  "household",
  "--method",
  "stepagent-implicit",
  "--seed",
  "2",
  "--quick",
  "--train-tasks",
  "2",
  "--test-tasks",
  "1",
  "--sft-steps",
  "2",
  "--cycles",
  "1",
];
const hf = ["--model", model, "--max-context", "256", "--max-action-tokens", "12", "--lora-rank", "4"];

test("train --model: StepAgent on a Hugging Face folder writes metrics, a PEFT adapter and a merged model; same seed, same numbers", async () => {
  const out = path.join(tmp, "run");
  const r = run(...tiny, ...hf, "--out", out, "--merge", "--json");
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 1);
  const s = JSON.parse(lines[0]);
  assert.equal(s.model, model);
  assert.deepEqual(
    s.cycles.map((c: { cycle: number }) => c.cycle),
    [0, 1],
  );
  assert.deepEqual(fs.readdirSync(out).sort(), ["adapter", "merged", "metrics.json"]);
  assert.deepEqual(fs.readdirSync(path.join(out, "adapter")).sort(), ["adapter_config.json", "adapter_model.safetensors"]);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, "adapter", "adapter_config.json"), "utf8")).r, 4);
  for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]) assert.ok(fs.existsSync(path.join(out, "merged", f)), f);
  // The merged folder is the base with the saved adapter folded in.
  await initBackend();
  const base = HfCausalLM.load(model);
  Lora.load(base, path.join(out, "adapter"));
  const merged = HfCausalLM.load(path.join(out, "merged"));
  const ids = tf.tensor2d([[261, 259, 220, 86, 78, 81]], [1, 6], "int32");
  const a = (await base.logits(ids).data()) as Float32Array;
  const b = (await merged.logits(ids).data()) as Float32Array;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  assert.ok(diff <= 1e-5, `merged vs base + adapter ${diff}`);
  base.dispose();
  merged.dispose();
  const again = run(...tiny, ...hf, "--json");
  assert.equal(again.status, 0, again.stderr);
  const pick = (x: { cycles: { evaluation: unknown; pairs: number; kl: number }[] }) => x.cycles.map((c) => [c.evaluation, c.pairs, c.kl]);
  assert.deepEqual(pick(JSON.parse(again.stdout)), pick(s));
});

test("train --model: bad flags and bad folders are one line and exit 2, nothing written", () => {
  const out = path.join(tmp, "never");
  const cases: [string[], RegExp][] = [
    [[...tiny, "--lora-rank", "4", "--out", out], /^stepagent: error: --lora-rank: needs --model DIR/],
    [[...tiny, "--model", path.join(tmp, "nope"), "--out", out], /nope: no such folder/],
    [[...tiny, ...hf, "--lora-dropout", "1.5", "--out", out], /^stepagent: error: --lora-dropout: must be a number in \[0, 1\), got "1\.5"/],
    [[...tiny, ...hf, "--full-finetune", "--out", out], /^stepagent: error: --full-finetune: cannot be combined with --lora-rank/],
    [[...tiny, "--model", model, "--lora-targets", "w_proj", "--out", out], /LoRA targets: \["w_proj"\] match no linear layer/],
  ];
  for (const [args, expected] of cases) {
    const r = run(...args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr.trim().split("\n")[0], expected);
    assert.ok(!r.stderr.includes("    at "), "no stack trace");
    assert.ok(!fs.existsSync(out));
  }
});
