import { test } from "node:test";
import assert from "node:assert/strict";
import { initBackend, tf } from "../../src/backend";
import { Rng } from "../../src/core/rng";
import { Tokenizer } from "../../src/policies/tokenizer";
import { TransformerPolicy } from "../../src/policies/transformer";
import { trainSft, expertSteps } from "../../src/policies/text_sft";
import { inspectText } from "../../src/methods/text/inspect";
import { stepDpoUpdate, stepDpoLoss } from "../../src/methods/stepagent_implicit";
import { evaluateText } from "../../src/methods/text/rollout";
import { TEXT_ENVS, splitTasks, expertTrajectory } from "../../src/envs/text";
import { normaliseAction } from "../../src/data/react";
import { rewardWeightedLogProbChange } from "./reward_weighted";

const family = TEXT_ENVS.household;
const { train, test: held } = splitTasks(family, 0, 4, 3);
const data = expertSteps(train.map((t) => expertTrajectory(family, t)));
const tok = Tokenizer.fit(
  data.flatMap((d) => [d.state, d.action]),
  { minCount: 1 },
);
const tiny = { dModel: 16, heads: 2, layers: 1, context: 96, maxActionTokens: 16, seed: 2 };

test("text inspection: pairs only where the normalised actions differ; pairs + matches = steps × n", async () => {
  await initBackend();
  const policy = new TransformerPolicy(tok, tiny);
  const n = 3;
  const ins = await inspectText(policy, data, { samplesPerStep: n, temperature: 1, rng: new Rng(1) });
  assert.equal(ins.proposals, data.length * n);
  for (const p of ins.pairs) assert.notEqual(normaliseAction(p.chosen), normaliseAction(p.rejected));
  assert.equal(ins.pairs.length + Math.round(ins.matchRate * ins.proposals), ins.proposals);
  // An untrained policy rarely hits the expert's action.
  assert.ok(ins.matchRate < 0.2, `match rate ${ins.matchRate}`);
  policy.dispose();
});

test("step DPO: loss is log 2 at π = π_ref, and training raises the chosen-over-rejected margin", async () => {
  await initBackend();
  const policy = new TransformerPolicy(tok, tiny);
  const pairs = (await inspectText(policy, data.slice(0, 8), { samplesPerStep: 2, temperature: 1, rng: new Rng(2) })).pairs;
  assert.ok(pairs.length >= 8);
  const refC = await policy.logProbs(
    pairs.map((p) => p.state),
    pairs.map((p) => p.chosen),
  );
  const refR = await policy.logProbs(
    pairs.map((p) => p.state),
    pairs.map((p) => p.rejected),
  );
  const l0 = tf.tidy(() => stepDpoLoss(policy, pairs, { chosen: refC, rejected: refR }, 0.5).dataSync()[0]);
  assert.ok(Math.abs(l0 - Math.log(2)) < 1e-4, `initial loss ${l0}`);
  const before = tf.memory().numTensors;
  await stepDpoUpdate(policy, pairs, {
    beta: 0.5,
    nllWeight: 0,
    optimisation: { steps: 40, batchSize: 8, learningRate: 3e-3, maxEpochs: 2, fullBatches: false },
    seed: 0,
  });
  assert.equal(tf.memory().numTensors, before);
  const c = await policy.logProbs(
    pairs.map((p) => p.state),
    pairs.map((p) => p.chosen),
  );
  const r = await policy.logProbs(
    pairs.map((p) => p.state),
    pairs.map((p) => p.rejected),
  );
  const margin = c.reduce((acc, x, i) => acc + (x - refC[i]) - (r[i] - refR[i]), 0) / pairs.length;
  assert.ok(margin > 1, `mean implicit-reward margin ${margin}`);
  policy.dispose();
});

test("evaluation counts invalid actions, steps and success (an untrained policy fails every task)", async () => {
  await initBackend();
  const policy = new TransformerPolicy(tok, tiny);
  const ev = await evaluateText(family, held, policy, { seed: 0, temperature: 1 });
  assert.equal(ev.tasks, 3);
  assert.equal(ev.successRate, 0);
  assert.equal(ev.meanSteps, family.maxSteps);
  assert.ok(ev.invalidRate > 0.5, `invalid rate ${ev.invalidRate}`);
  // After SFT on the same tasks, greedy rollouts of the training tasks succeed.
  await trainSft(policy, data, { steps: 250, batchSize: 16, seed: 0, learningRate: 1e-2 });
  const fit = await evaluateText(family, train, policy, { seed: 0, temperature: 0 });
  assert.ok(fit.successRate >= 0.75, JSON.stringify(fit));
  policy.dispose();
});

test("inverse: the step discriminator separates expert steps from proposals, and PPO raises high-advantage proposals", async () => {
  await initBackend();
  const { StepDiscriminator, stepAdvantages, ppoUpdate, stepagentInverseConfig } = await import("../../src/methods/stepagent_inverse");
  const policy = new TransformerPolicy(tok, tiny);
  const ins = await inspectText(policy, data, { samplesPerStep: 3, temperature: 1, rng: new Rng(4) });
  const disc = new StepDiscriminator();
  disc.fit(data, ins.samples, { epochs: 200, learningRate: 2, l2: 1e-4 });
  const rE = data.map((d) => disc.reward(d.state, d.action));
  const rA = ins.pairs.map((p) => disc.reward(p.state, p.rejected));
  const correct = rE.filter((r) => r > 0).length + rA.filter((r) => r < 0).length;
  assert.ok(correct / (rE.length + rA.length) > 0.9, `training accuracy ${correct / (rE.length + rA.length)}`);
  // PPO: the advantage-weighted change of log π on the proposals must be positive.
  const config = stepagentInverseConfig.parse({
    beta: 0.1,
    nllWeight: 0,
    optimisation: { steps: 30, batchSize: 8, learningRate: 3e-3, maxEpochs: 2, fullBatches: false },
  });
  const score = await rewardWeightedLogProbChange(policy, ins.samples, async () => {
    const tensors = tf.memory().numTensors;
    const { rewards, advantages } = stepAdvantages(data, ins.samples, config);
    await ppoUpdate(policy, ins.samples, advantages, { ...config, seed: 0 });
    assert.equal(tf.memory().numTensors, tensors);
    return (_state, _action, i) => rewards[i];
  });
  assert.ok(score > 0, `advantage-weighted log-prob change ${score}`);
  policy.dispose();
});

test("RFT cycles leave the tensor count flat (the SFT trainer's moments are released)", async () => {
  await initBackend();
  const { rft, rftConfig } = await import("../../src/methods/rft");
  const policy = new TransformerPolicy(tok, tiny);
  const ctx = {
    family: family as never,
    train,
    expert: train.map((t) => expertTrajectory(family, t)),
    expertSteps: data,
    policy,
    samplesPerStep: 1,
    actionBudget: 20,
    seed: 0,
    rng: new Rng(7),
  };
  const config = rftConfig.parse({ optimisation: { steps: 2 } });
  const cycle = async (c: typeof ctx) => rft.text!.update(c, (await rft.text!.collect(c, config)).data, config);
  await cycle(ctx);
  const after1 = tf.memory().numTensors;
  await cycle({ ...ctx, seed: 1 });
  assert.equal(tf.memory().numTensors, after1);
  policy.dispose();
});
