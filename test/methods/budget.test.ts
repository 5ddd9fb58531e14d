import { test } from "node:test";
import assert from "node:assert/strict";
import { initBackend } from "../../src/backend";
import { AdamTrainer } from "../../src/optim/adam";
import { TransformerPolicy } from "../../src/policies/transformer";
import { trainText, type TextTrainOptions, type TextWarmStart } from "../../src/methods/text/driver";
import * as fs from "node:fs";
import * as path from "node:path";
import { METHODS, TEXT_METHODS } from "../../src/methods/registry";

// Every method with an update must spend the same optimisation budget per cycle: the same number
// of Adam steps, each on the same number of examples. Counted from the outside: every call of
// AdamTrainer.step, and the rows of the log-prob calls (log π or the next-token distributions)
// inside each step — the first call has one row per example for every loss but ETO's, whose
// example is a pair of whole trajectories (at least two rows each, spread over its micro-batches).
const STEPS = 3;
const BATCH = 5;

test("equal budgets: every method takes the same Adam steps × batch per cycle, counted as they run", async () => {
  await initBackend();
  const counts: { steps: number; firstRows: number[]; allRows: number[] } = { steps: 0, firstRows: [], allRows: [] };
  let inStep = false;
  let first = true;
  const step = AdamTrainer.prototype.step;
  const seq = TransformerPolicy.prototype.sequenceLogProb;
  AdamTrainer.prototype.step = function (this: AdamTrainer, loss) {
    counts.steps++;
    counts.allRows.push(0);
    inStep = true;
    first = true;
    return step.call(this, loss).finally(() => (inStep = false));
  };
  const next = TransformerPolicy.prototype.nextTokenLogProbs;
  const count = (states: string[]) => {
    if (inStep && first) counts.firstRows.push(states.length);
    if (inStep) counts.allRows[counts.allRows.length - 1] += states.length;
    first = false;
  };
  TransformerPolicy.prototype.sequenceLogProb = function (this: TransformerPolicy, states: string[], actions: string[]) {
    count(states);
    return seq.call(this, states, actions);
  };
  // The PPO updates score their samples through the full next-token distributions.
  TransformerPolicy.prototype.nextTokenLogProbs = function (this: TransformerPolicy, states: string[], actions: string[]) {
    count(states);
    return next.call(this, states, actions);
  };
  try {
    // A warm start that solves some training tasks and fails others, so every method's collection
    // has data (failed episodes for ETO, differing returns for outcome PPO, mismatches for StepAgent).
    const base: TextTrainOptions = {
      env: "qa",
      method: "sft",
      seed: 1,
      trainTasks: 6,
      testTasks: 1,
      sftSteps: 200,
      sftBatchSize: 16,
      sftLearningRate: 1e-2,
      cycles: 1,
      samplesPerStep: 2,
      common: { optimisation: { steps: STEPS, batchSize: BATCH } },
      model: { dModel: 16, heads: 2, layers: 1, maxActionTokens: 12 },
    };
    const warm = await trainText(base);
    warm.policy.dispose();
    const warmStart: TextWarmStart = warm.warmStart;
    for (const method of TEXT_METHODS) {
      counts.steps = 0;
      counts.firstRows = [];
      counts.allRows = [];
      const r = await trainText({ ...base, method, warmStart });
      r.policy.dispose();
      const cycle = r.cycles[1];
      if (METHODS[method].text!.warmStartOnly) {
        assert.equal(r.cycles.length, 1, method);
        assert.equal(counts.steps, 0, method);
        continue;
      }
      assert.equal(counts.steps, STEPS, `${method}: ${counts.steps} Adam steps (${cycle.pairs} pairs, ${cycle.actions} actions collected)`);
      assert.deepEqual(cycle.update, { steps: STEPS, examples: STEPS * BATCH }, method);
      if (method === "eto")
        assert.ok(
          counts.firstRows.every((n) => n >= 2 * BATCH),
          `${method}: ${counts.firstRows}`,
        );
      else assert.deepEqual(counts.firstRows, Array(STEPS).fill(BATCH), method);
      // β, λ and the budget are stated in the result.
      assert.equal((r.config.optimisation as { batchSize: number }).batchSize, BATCH);
      if ("beta" in r.config) assert.equal(r.config.beta, 1);
    }
  } finally {
    AdamTrainer.prototype.step = step;
    TransformerPolicy.prototype.sequenceLogProb = seq;
    TransformerPolicy.prototype.nextTokenLogProbs = next;
  }
});

test("configs/*.json parse against every method's current schema (a renamed or removed field fails here)", async () => {
  const { readConfigFile } = await import("../../src/cli/options");
  const { readComparePlan } = await import("../../src/cli/compare_plan");
  const { methodConfig } = await import("../../src/methods/text/driver");
  const dir = path.resolve(__dirname, "../../configs");
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".json"));
  assert.ok(files.length > 0);
  for (const f of files) {
    // A comparison plan (compare --plan) carries its method configs under "config".
    const isPlan = "seeds" in JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
    const file = isPlan ? readComparePlan(path.join(dir, f)).config : readConfigFile(path.join(dir, f));
    for (const method of TEXT_METHODS) {
      const c = methodConfig(method, file.common as never, file.methods?.[method]);
      if ("optimisation" in c) assert.equal(typeof (c.optimisation as { steps: number }).steps, "number", `${f}: ${method}`);
    }
  }
});

test("run-wide settings reach every method that has the field, but not an ablation's defining field", async () => {
  const { methodConfig } = await import("../../src/methods/text/driver");
  const common = { beta: 2, nllWeight: 0.5, optimisation: { steps: 7 } };
  const inverse = methodConfig("stepagent-inverse", common);
  assert.deepEqual([inverse.beta, inverse.nllWeight, inverse.stepSignal, (inverse.optimisation as { steps: number }).steps], [2, 0.5, true, 7]);
  const noAnchor = methodConfig("stepagent-no-anchor", common);
  assert.deepEqual([noAnchor.beta, noAnchor.nllWeight], [2, 0]);
  const anchorOnly = methodConfig("stepagent-anchor-only", common, {});
  assert.deepEqual([anchorOnly.nllWeight, anchorOnly.stepSignal], [0.5, false]);
  // A method's own entry is explicit and wins.
  assert.equal(methodConfig("stepagent-no-anchor", common, { nllWeight: 0.25 }).nllWeight, 0.25);
  assert.ok(!("beta" in methodConfig("rft", common)));
});
