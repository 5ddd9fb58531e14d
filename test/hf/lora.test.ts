import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend, tf } from "../../src/backend";
import { AdamTrainer } from "../../src/optim/adam";
import { nllLoss } from "../../src/policies/text_sft";
import { HfCausalLM } from "../../src/hf/model";
import { HfPolicy } from "../../src/hf/policy";
import { Lora, LORA_DEFAULTS } from "../../src/hf/lora";
import { readHeader } from "../../src/hf/safetensors";
import { writeFixtureModel, type FixtureKind } from "../../src/hf/fixture";
import { maxAbsDiff, referenceLogits } from "./reference";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hf-lora-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

const IDS = [261, 259, 220, 86, 78, 81, 75, 67, 198, 263, 12, 40, 100];
const DATA = [
  { state: "hello world", action: "go north" },
  { state: "the room is dark", action: "look" },
  { state: "hello", action: "take lamp" },
];

async function allLogits(model: HfCausalLM): Promise<Float32Array> {
  const t = tf.tidy(() => model.logits(tf.tensor2d(Int32Array.from(IDS), [1, IDS.length], "int32")));
  const out = Float32Array.from((await t.data()) as Float32Array);
  t.dispose();
  return out;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const KINDS: [FixtureKind, Record<string, unknown>][] = [
  ["gpt2", {}],
  ["llama", { heads: 4, kvHeads: 2 }],
];

for (const [kind, extra] of KINDS) {
  test(`${kind}: LoRA — B = 0 leaves logits unchanged; a training step moves only adapters; PEFT files; load; merge`, async () => {
    await initBackend();
    const dir = path.join(tmp, kind);
    writeFixtureModel(dir, { kind, seed: 11, ...extra });
    const base = HfCausalLM.load(dir);
    const baseLogits = await allLogits(base);
    base.dispose();

    const policy = HfPolicy.load(dir, { format: "chat", lora: { seed: 3 } });
    assert.equal(policy.lora!.r, LORA_DEFAULTS.r);
    assert.deepEqual(Array.from(await allLogits(policy.model)), Array.from(baseLogits), "B = 0: identical logits");

    // Only the adapters are given to the optimiser, and only they move.
    const before = await policy.model.weights();
    const adaptersBefore = await policy.lora!.tensors();
    const trainer = new AdamTrainer(policy.trainable(), 0.05);
    assert.equal(policy.trainable().length, 2 * policy.lora!.modules.size);
    assert.equal((await trainer.state()).m.length, 2 * policy.lora!.modules.size, "optimiser state for adapters only");
    for (let s = 0; s < 3; s++) await trainer.step(() => nllLoss(policy, DATA));
    trainer.dispose();
    const after = await policy.model.weights();
    for (const [name, w] of before) assert.deepEqual(after.get(name), w, `base weight ${name} unchanged`);
    const adaptersAfter = await policy.lora!.tensors();
    adaptersAfter.forEach((t, i) => assert.ok(maxDiff(t.data, adaptersBefore[i].data) > 0, `${t.name} changed`));
    const tuned = await allLogits(policy.model);
    assert.ok(maxDiff(tuned, baseLogits) > 1e-3, "the trained adapter changes the logits");

    // PEFT's files: names, shapes, config keys.
    const out = path.join(tmp, `${kind}-adapter`);
    await policy.lora!.save(out);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, "adapter_config.json"), "utf8"));
    assert.equal(cfg.peft_type, "LORA");
    assert.equal(cfg.task_type, "CAUSAL_LM");
    assert.equal(cfg.r, 8);
    assert.equal(cfg.lora_alpha, 16);
    assert.equal(cfg.lora_dropout, 0.05);
    assert.equal(cfg.fan_in_fan_out, kind === "gpt2");
    const header = readHeader(path.join(out, "adapter_model.safetensors"));
    const names = [...header.tensors.keys()].sort();
    if (kind === "gpt2") {
      assert.deepEqual(cfg.target_modules, ["c_attn"]);
      assert.deepEqual(names, [0, 1].flatMap((l) => ["A", "B"].map((w) => `base_model.model.transformer.h.${l}.attn.c_attn.lora_${w}.weight`)).sort());
      assert.deepEqual(header.tensors.get("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight")!.shape, [8, 16]);
      assert.deepEqual(header.tensors.get("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight")!.shape, [48, 8]);
    } else {
      assert.deepEqual(cfg.target_modules, ["q_proj", "v_proj"]);
      assert.deepEqual(
        names,
        [0, 1]
          .flatMap((l) => ["q_proj", "v_proj"].flatMap((m) => ["A", "B"].map((w) => `base_model.model.model.layers.${l}.self_attn.${m}.lora_${w}.weight`)))
          .sort(),
      );
      assert.deepEqual(header.tensors.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")!.shape, [8, 16]);
      assert.deepEqual(header.tensors.get("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight")!.shape, [8, 8]); // 2 kv heads × 4
    }

    // The PyTorch reference applies W + (alpha/r)·B·A from the saved files: same logits.
    const ref = referenceLogits(dir, [IDS], out);
    const dTorch = maxAbsDiff(tuned, ref, IDS.length, [IDS.length]);
    assert.ok(dTorch <= 1e-4, `adapter vs torch W + (alpha/r)·B·A: max |Δ| ${dTorch}`);

    // Loaded back onto a fresh base: the same logits exactly.
    const fresh = HfCausalLM.load(dir);
    const loaded = Lora.load(fresh, out);
    assert.deepEqual(Array.from(await allLogits(fresh)), Array.from(tuned));
    assert.equal(loaded.scale, 2);
    loaded.dispose();
    fresh.dispose();

    // Merged into a full Hugging Face folder: logits of base + adapter within 1e-5.
    const merged = path.join(tmp, `${kind}-merged`);
    await policy.lora!.merge(merged);
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"])
      assert.ok(fs.existsSync(path.join(merged, f)), f);
    const m = HfCausalLM.load(merged);
    const dMerged = maxDiff(await allLogits(m), tuned);
    assert.ok(dMerged <= 1e-5, `merged vs adapter: max |Δ| ${dMerged}`);
    m.dispose();
    const dMergedTorch = maxAbsDiff(tuned, referenceLogits(merged, [IDS]), IDS.length, [IDS.length]);
    assert.ok(dMergedTorch <= 1e-4, `merged (torch) vs adapter: ${dMergedTorch}`);
    const e = (x: number) => x.toExponential(2);
    console.log(`# ${kind}: adapter vs torch ${e(dTorch)}, merged vs adapter ${e(dMerged)}, merged in torch vs adapter ${e(dMergedTorch)}`);
    policy.dispose();
  });
}

test("bad adapter folders fail with one line naming the file and tensor", async () => {
  await initBackend();
  const dir = path.join(tmp, "llama-bad");
  writeFixtureModel(dir, { kind: "llama", seed: 2 });
  const model = HfCausalLM.load(dir);
  const ad = path.join(tmp, "bad-adapter");
  const l = Lora.attach(model, { r: 4, targets: ["k_proj"] });
  await l.save(ad);
  l.dispose();
  assert.throws(() => Lora.attach(model, { targets: ["nope"] }), /LoRA targets: \["nope"\] match no linear layer.*q_proj/);
  const cfgFile = path.join(ad, "adapter_config.json");
  const cfg = JSON.parse(fs.readFileSync(cfgFile, "utf8"));
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, r: 5 }));
  assert.throws(
    () => Lora.load(model, ad),
    /adapter_model\.safetensors: tensor base_model\.model\.model\.layers\.0\.self_attn\.k_proj\.lora_A\.weight: shape \[4,16\], expected \[5,16\]/,
  );
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, use_dora: true }));
  assert.throws(() => Lora.load(model, ad), /adapter_config\.json: use_dora: true is not supported/);
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, target_modules: ["q_proj"] }));
  assert.throws(() => Lora.load(model, ad), /tensor base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight: missing/);
  assert.equal(model.adapters.size, 0, "nothing attached by a failed load");
  model.dispose();
});
