/**
 * `stepagent compare --model DIR` on a tiny fixture model, through the real CLI in a child process:
 * every text method, one SFT warm start per seed, one optimisation budget; a method's row equals
 * that method trained alone in this process (SFT included), so restoring the shared warm start
 * into a freshly loaded model changes nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../../src/backend";
import { TEXT_METHODS } from "../../src/methods/registry";
import { COMPARE_QUICK, trainText } from "../../src/methods/text/driver";
import { hfPretrained } from "../../src/hf/cli";
import { HfPolicy } from "../../src/hf/policy";
import { trainSft } from "../../src/policies/text_sft";
import { writeFixtureModel } from "../../src/hf/fixture";

const BIN = path.resolve(__dirname, "../../dist/cli/main.js");
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, "compare", ...args], { encoding: "utf8" });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hf-compare-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
const model = path.join(tmp, "model");
writeFixtureModel(model, { kind: "llama", seed: 31, config: { max_position_embeddings: 512 } });
// The smallest budget that still runs a cycle of every method: one training and one held-out task.
const budget = ["--train-tasks", "1", "--test-tasks", "1", "--sft-steps", "2", "--update-steps", "2", "--batch-size", "4"];
const hfFlags = { model, "max-context": "128", "max-action-tokens": "6", "lora-rank": "4" };
const hf = Object.entries(hfFlags).flatMap(([k, v]) => [`--${k}`, v]);

interface Row {
  method: string;
  config: { optimisation?: { steps: number; batchSize: number } };
  updatesPerCycle: { steps: number; examples: number };
  perSeed: { seed: number; success: number; kl: number; agentKl: number }[];
}
interface PerCycle {
  method: string;
  cycles: { cycle: number; heldOutKl: number; agentKl: number }[];
}

test("compare --model: every method on the fixture model from one SFT warm start at one budget; a row equals its method trained alone", async () => {
  const out = path.join(tmp, "cmp");
  const r = run("--env", "household", "--seeds", "1", "--quick", ...budget, ...hf, "--json", "--out", out);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout.trim()) as { model: Record<string, unknown>; budget: Record<string, unknown>; rows: Row[]; perCycle: PerCycle[] };
  assert.deepEqual(
    s.rows.map((x) => x.method),
    [...TEXT_METHODS],
  );
  assert.deepEqual(s.model, { model, lora: { r: 4, alpha: 16, dropout: 0.05 }, maxContext: 128, maxActionTokens: 6 });
  assert.ok(!("model" in s.budget), "the built-in transformer's shape is not part of a pretrained run's budget");
  assert.deepEqual([s.budget.sftBatchSize, s.budget.sftLearningRate], [8, 5e-4]);
  // One optimisation budget: every method with an optimiser gets 2 steps × 4 examples, and every
  // method that updated took exactly that (PPO on the outcome and IPR have no signal here: no
  // roll-out of a random model succeeds, so their advantages are all zero and they skip).
  for (const row of s.rows)
    if (row.config.optimisation) assert.deepEqual([row.config.optimisation.steps, row.config.optimisation.batchSize], [2, 4], row.method);
  const updated = s.rows.filter((x) => x.updatesPerCycle.steps > 0);
  for (const row of updated) assert.deepEqual(row.updatesPerCycle, { steps: 2, examples: 8 }, row.method);
  for (const m of ["sft-continued", "stepagent-implicit", "stepagent-inverse", "eto"])
    assert.ok(
      updated.some((x) => x.method === m),
      `${m} did not update`,
    );
  // One warm start: cycle 0 (the SFT policy's evaluation) is the same for every method.
  const zero = s.perCycle.map((p) => [p.cycles[0].cycle, p.cycles[0].heldOutKl, p.cycles[0].agentKl]);
  for (const z of zero) assert.deepEqual(z, zero[0]);
  assert.deepEqual(
    s.perCycle.map((p) => p.cycles.length),
    TEXT_METHODS.map((m) => (m === "sft" ? 1 : 2)),
  );
  assert.equal(fs.readdirSync(out).sort().join(","), "compare.json,index.html,kl.svg,success.svg");
  assert.match(fs.readFileSync(path.join(out, "index.html"), "utf8"), /Pretrained model .*model \(LoRA\)/);

  // SFT and StepAgent (implicit) trained alone here, each with its own SFT: the same numbers as
  // compare's rows, which loaded the model afresh and restored the shared warm start's adapters.
  await initBackend();
  const alone = { ...COMPARE_QUICK, trainTasks: 1, testTasks: 1, sftSteps: 2, sftBatchSize: 8, sftLearningRate: 5e-4, env: "household", seed: 0 };
  for (const method of ["sft", "stepagent-implicit"]) {
    const t = await trainText({ ...alone, method, common: { optimisation: { steps: 2, batchSize: 4 } }, pretrained: hfPretrained(hfFlags, 0) });
    t.policy.dispose();
    const row = s.rows.find((x) => x.method === method)!;
    const last = t.cycles[t.cycles.length - 1];
    assert.equal(row.perSeed[0].success, last.evaluation.successRate, method);
    assert.ok(Math.abs(row.perSeed[0].kl - last.kl) < 1e-9, `${method}: compare ${row.perSeed[0].kl}, alone ${last.kl}`);
    assert.ok(Math.abs(s.perCycle[0].cycles[0].heldOutKl - t.cycles[0].kl) < 1e-9, `${method}: cycle 0`);
  }
  // The implicit update moved the policy away from the warm start (the row is not cycle 0 again).
  const implicit = s.rows.find((x) => x.method === "stepagent-implicit")!;
  assert.notEqual(implicit.perSeed[0].kl, s.perCycle[0].cycles[0].heldOutKl);

  // The same comparison from a plan file (two of its methods) gives the same rows.
  const plan = path.join(tmp, "plan.json");
  fs.writeFileSync(
    plan,
    JSON.stringify({
      seeds: 1,
      methods: ["sft", "stepagent-implicit"],
      budget: { trainTasks: 1, testTasks: 1, sftSteps: 2, cycles: 1, samplesPerStep: 2 },
      envs: { household: {} },
      config: { common: { optimisation: { steps: 2, batchSize: 4 } } },
    }),
  );
  const p = run("--env", "household", "--plan", plan, ...hf, "--json");
  assert.equal(p.status, 0, p.stderr);
  const fromPlan = JSON.parse(p.stdout.trim()) as { rows: Row[]; plan: { file: string }; model: { model: string } };
  assert.equal(fromPlan.plan.file, plan);
  assert.equal(fromPlan.model.model, model);
  for (const row of fromPlan.rows) assert.deepEqual(row.perSeed, s.rows.find((x) => x.method === row.method)!.perSeed, row.method);
});

test("compare --model: a bad folder or flag is one clear line and exit 2 before any work, nothing written", () => {
  const out = path.join(tmp, "never");
  const base = ["--env", "household", "--seeds", "1", "--quick", ...budget, "--out", out];
  const cases: [string[], RegExp][] = [
    [[...base, "--model", path.join(tmp, "nope")], /^stepagent: error: .*nope: no such folder/],
    [[...base, "--lora-rank", "4"], /^stepagent: error: --lora-rank: needs --model DIR/],
    [[...base, ...hf, "--merge"], /^stepagent: error: unknown flag '--merge'/],
    [[...base, ...hf, "--full-finetune"], /^stepagent: error: --full-finetune: cannot be combined with --lora-rank/],
    [[...base, "--model", tmp], /config\.json/],
  ];
  for (const [args, expected] of cases) {
    const r = run(...args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr.split("\n")[0], expected);
    assert.ok(!r.stderr.includes("    at "), "no stack trace");
    assert.ok(!r.stderr.includes("TensorFlow.js backend"), "the error comes before any work");
    assert.ok(!fs.existsSync(out));
  }
});

test("restore: a trained policy put back to a saved state scores as that state did, for LoRA and full fine-tuning; a mismatched state is refused", async () => {
  await initBackend();
  const states = ["You are in the hall.", "the room is dark"];
  const actions = ["go north", "look"];
  const data = states.map((state, i) => ({ state, action: actions[i] }));
  for (const lora of [{ r: 4, seed: 1 }, false] as const) {
    const policy = HfPolicy.load(model, { maxContext: 128, maxActionTokens: 6, lora });
    (await trainSft(policy, data, { steps: 2, batchSize: 2, learningRate: 1e-2, seed: 0 })).trainer.dispose();
    const saved = await policy.trainedWeights();
    // LoRA keeps only the adapters (PEFT names); full fine-tuning every weight.
    assert.deepEqual([...saved.keys()].sort(), lora ? (await policy.lora!.tensors()).map((t) => t.name).sort() : [...policy.model.params.keys()].sort());
    const before = await policy.logProbs(states, actions);
    (await trainSft(policy, data, { steps: 2, batchSize: 2, learningRate: 1e-2, seed: 1 })).trainer.dispose();
    const moved = await policy.logProbs(states, actions);
    assert.ok(
      moved.some((x, i) => x !== before[i]),
      "training moved the policy",
    );
    policy.restore(saved);
    assert.deepEqual(await policy.logProbs(states, actions), before);
    const name = [...saved.keys()][0];
    const short = new Map(saved);
    short.set(name, saved.get(name)!.subarray(1));
    assert.throws(() => policy.restore(short), new RegExp(`${name.replace(/\./g, "\\.")} is ${saved.get(name)!.length - 1} values, expected`));
    const missing = new Map(saved);
    missing.delete(name);
    assert.throws(() => policy.restore(missing), /is missing/);
    policy.dispose();
  }
});
