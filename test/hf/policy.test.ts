import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend, tf } from "../../src/backend";
import { Rng } from "../../src/core/rng";
import { HfPolicy } from "../../src/hf/policy";
import { expertSteps, trainSft } from "../../src/policies/text_sft";
import { inspectText } from "../../src/methods/text/inspect";
import { stepDpoLoss, stepDpoUpdate } from "../../src/methods/stepagent_implicit";
import { expertAnchor, ppoUpdate, stepAdvantages, stepagentInverseConfig } from "../../src/methods/stepagent_inverse";
import { evaluateText } from "../../src/methods/text/rollout";
import { METHODS, TEXT_METHODS } from "../../src/methods/registry";
import type { TextCycleContext } from "../../src/methods/protocol";
import { TEXT_ENVS, splitTasks, expertTrajectory } from "../../src/envs/text";
import { writeFixtureModel } from "../../src/hf/fixture";
import { referenceLogits } from "./reference";
import { rewardWeightedLogProbChange } from "../methods/reward_weighted";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hf-policy-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
const llama = path.join(tmp, "llama");
writeFixtureModel(llama, { kind: "llama", seed: 21, heads: 4, kvHeads: 2, config: { max_position_embeddings: 256 } });
const gpt2 = path.join(tmp, "gpt2");
writeFixtureModel(gpt2, { kind: "gpt2", seed: 22, config: { n_positions: 256 } });

const STATES = ["You are in the hall. hello world", "the room is dark", "hello"];
const ACTIONS = ["go north", "look", "take the lamp"];

/** log π from PyTorch's logits of the same token sequence: Σ log softmax at the scored positions (float64). */
function referenceLogProb(dir: string, ids: number[], promptLength: number): number {
  const logits = referenceLogits(dir, [ids])[0];
  let sum = 0;
  for (let t = promptLength - 1; t < ids.length - 1; t++) {
    const row = logits[t];
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
    sum += row[ids[t + 1]] - lse;
  }
  return sum;
}

for (const [name, dir, format] of [
  ["llama, chat template", llama, "chat"],
  ["gpt2, ReAct text", gpt2, "react"],
] as const) {
  test(`${name}: log π(a|s) matches PyTorch's summed token log-probs; batched with padding = alone`, async () => {
    await initBackend();
    const policy = HfPolicy.load(dir, { format, lora: { dropout: 0 } });
    const batched = await policy.logProbs(STATES, ACTIONS);
    let worst = 0;
    for (let i = 0; i < STATES.length; i++) {
      const prompt = policy.prompt(STATES[i]);
      const action = policy.actionIds(ACTIONS[i]);
      const ids = [...prompt, ...action, policy.endId];
      const ref = referenceLogProb(dir, ids, prompt.length);
      worst = Math.max(worst, Math.abs(batched[i] - ref));
      const alone = (await policy.logProbs([STATES[i]], [ACTIONS[i]]))[0];
      assert.ok(Math.abs(alone - batched[i]) < 1e-5, `row ${i}: alone ${alone} vs batched ${batched[i]}`);
      // The scored tokens are the action's and the end token, each predicted from the position before.
      assert.equal(policy.scoredTokens([STATES[i]], [ACTIONS[i]])[0], action.length + 1);
      const tokens = await policy.tokenLogProbs(STATES[i], ACTIONS[i]);
      assert.deepEqual(tokens.ids, [...action, policy.endId]);
      assert.ok(Math.abs(tokens.logprobs.reduce((a, b) => a + b, 0) - batched[i]) < 1e-4);
    }
    assert.ok(worst <= 1e-4, `max |Δ| vs torch ${worst}`);
    console.log(`# ${name}: log π max |Δ| vs torch ${worst.toExponential(2)}`);
    // The differentiable path gives the same numbers (dropout 0).
    const t = policy.sequenceLogProb(STATES, ACTIONS);
    const diff = Math.max(...Array.from(await t.data(), (x, i) => Math.abs(x - batched[i])));
    t.dispose();
    assert.ok(diff < 1e-5, `sequenceLogProb vs logProbs ${diff}`);
    // What the prompt is: the chat template's text with the state as the user turn, or ReAct text.
    const text = policy.tokenizer.decode(policy.prompt("hello"));
    assert.equal(text, format === "chat" ? "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n" : "hello\nAction:");
    policy.dispose();
  });
}

test("greedy sampling through the KV cache equals a greedy loop over whole-sequence forward passes; seeded sampling repeats", async () => {
  await initBackend();
  for (const [dir, format] of [
    [llama, "chat"],
    [gpt2, "react"],
  ] as const) {
    const policy = HfPolicy.load(dir, { format, maxActionTokens: 6, lora: false });
    const greedy = await policy.sample(STATES, new Rng(0), 0);
    for (let i = 0; i < STATES.length; i++) {
      // Second computation: no cache, the whole sequence re-run for every token.
      const seq = policy.prompt(STATES[i]);
      const start = seq.length;
      for (let k = 0; k < 6; k++) {
        const logits = tf.tidy(() => policy.model.logits(tf.tensor2d(Int32Array.from(seq), [1, seq.length], "int32")));
        const all = (await logits.data()) as Float32Array;
        logits.dispose();
        const V = policy.model.config.vocabSize;
        const row = all.subarray((seq.length - 1) * V, seq.length * V);
        let best = 0;
        for (let v = 1; v < policy.tokenizer.size; v++) if (row[v] > row[best]) best = v;
        if (best === policy.endId || policy.model.config.eosTokenIds.includes(best) || (format === "react" && policy.tokenizer.decode([best]).includes("\n")))
          break;
        seq.push(best);
      }
      const text = policy.tokenizer.decode(seq.slice(start), { skipSpecial: true });
      assert.equal(greedy[i], format === "react" ? text.replace(/^ /, "") : text, `${format} row ${i}`);
    }
    const a = await policy.sample(STATES, new Rng(5), 1);
    const b = await policy.sample(STATES, new Rng(5), 1);
    assert.deepEqual(a, b);
    policy.dispose();
  }
});

test("a state longer than the context is cut from the left, the same for scoring and sampling", async () => {
  await initBackend();
  const policy = HfPolicy.load(llama, { maxContext: 64, maxActionTokens: 8 });
  const long = "x".repeat(30) + " the end of a long observation that the model sees last";
  const ids = policy.prompt(long);
  assert.ok(ids.length <= 64 - 8 - 1, `prompt ${ids.length} tokens`);
  const text = policy.tokenizer.decode(ids);
  assert.ok(text.includes("sees last<|im_end|>\n<|im_start|>assistant\n"), text);
  assert.ok(!text.includes("xxxxxxxxxx"), "the start of the state was dropped");
  const [lp] = await policy.logProbs([long], ["go"]);
  assert.ok(Number.isFinite(lp) && lp < 0);
  assert.equal((await policy.sample([long], new Rng(1), 1)).length, 1);
  policy.dispose();
});

// The methods on a text environment, with the fixture model as the policy (chat format, LoRA).
const family = TEXT_ENVS.household;
const { train, test: held } = splitTasks(family, 0, 3, 2);
const data = expertSteps(train.map((t) => expertTrajectory(family, t)));
const policyOptions = { maxContext: 192, maxActionTokens: 12, lora: { dropout: 0, r: 4, seed: 1 } };

test("StepAgent implicit: one cycle (inspection + step-DPO on LoRA adapters) lowers the step-DPO objective", async () => {
  await initBackend();
  const policy = HfPolicy.load(llama, policyOptions);
  const ins = await inspectText(policy, data.slice(0, 6), { samplesPerStep: 2, temperature: 1, rng: new Rng(2) });
  assert.ok(ins.pairs.length >= 6, `${ins.pairs.length} pairs`);
  const pairs = ins.pairs;
  const ref = {
    chosen: await policy.logProbs(
      pairs.map((p) => p.state),
      pairs.map((p) => p.chosen),
    ),
    rejected: await policy.logProbs(
      pairs.map((p) => p.state),
      pairs.map((p) => p.rejected),
    ),
  };
  const objective = async () => {
    const t = tf.tidy(() => stepDpoLoss(policy, pairs, ref, 0.5));
    const v = (await t.data())[0];
    t.dispose();
    return v;
  };
  const before = await objective();
  assert.ok(Math.abs(before - Math.log(2)) < 1e-4, `at π = π_ref the loss is log 2, got ${before}`);
  const tensors = tf.memory().numTensors;
  const optimisation = { steps: 12, batchSize: 8, learningRate: 1e-2, maxEpochs: null, fullBatches: true };
  await stepDpoUpdate(policy, pairs, { beta: 0.5, nllWeight: 0, optimisation, seed: 0 });
  assert.equal(tf.memory().numTensors, tensors, "no tensors leak");
  const after = await objective();
  assert.ok(after < before - 0.01, `step-DPO objective ${before} → ${after}`);
  console.log(`# implicit: step-DPO objective ${before.toFixed(4)} → ${after.toFixed(4)} (${pairs.length} pairs)`);
  policy.dispose();
});

test("StepAgent inverse: one cycle raises log π of the discriminator's preferred proposals", async () => {
  await initBackend();
  const policy = HfPolicy.load(llama, policyOptions);
  const ins = await inspectText(policy, data.slice(0, 6), { samplesPerStep: 2, temperature: 1, rng: new Rng(4) });
  // λ = 0: the check is on the policy-gradient step alone. The anchor's gradient (weight 1) is about
  // 10× the advantages' (RMS β = 0.1), and a cross-fitted reward need not rank the proposals as the
  // anchor moves them, so with it on the sign measures the anchor.
  const c = stepagentInverseConfig.parse({ beta: 0.1, nllWeight: 0, optimisation: { steps: 12, batchSize: 8, learningRate: 1e-2 } });
  const score = await rewardWeightedLogProbChange(policy, ins.samples, async () => {
    const { rewards, advantages } = stepAdvantages(data.slice(0, 6), ins.samples, c);
    await ppoUpdate(policy, ins.samples, advantages, { ...c, seed: 0 }, expertAnchor(data.slice(0, 6), ins.samples));
    return (_state, _action, i) => rewards[i];
  });
  assert.ok(score > 0, `advantage-weighted log-prob change ${score}`);
  policy.dispose();
});

test("every registered method (SFT, StepAgent, RFT, PPO, ETO, IPR, ablations) runs a cycle on the pretrained-model policy; only adapters change", async () => {
  await initBackend();
  const policy = HfPolicy.load(gpt2, { ...policyOptions, format: "react" });
  const base = await policy.model.weights();
  const { losses } = await trainSft(policy, data, { steps: 6, batchSize: 8, seed: 0, learningRate: 1e-2 });
  assert.ok(losses[losses.length - 1] < losses[0], `SFT loss ${losses[0]} → ${losses[losses.length - 1]}`);
  // Every registered method's collection and update, through the method protocol, on this policy.
  for (const [k, name] of TEXT_METHODS.entries()) {
    const setting = METHODS[name].text!;
    const defaults = setting.config.parse({}) as { optimisation?: object };
    const config = defaults.optimisation ? setting.config.parse({ optimisation: { steps: 2, batchSize: 4 } }) : defaults;
    const ctx: TextCycleContext = {
      family: family as never,
      train,
      expert: train.map((t) => expertTrajectory(family, t)),
      expertSteps: data,
      policy,
      samplesPerStep: 1,
      actionBudget: 8,
      seed: k,
      rng: new Rng(k),
    };
    const collected = await setting.collect(ctx, config);
    if (setting.warmStartOnly) continue; // SFT: the warm start above is the method
    const before = await policy.lora!.tensors();
    const { steps } = await setting.update(ctx, collected.data, config);
    const after = await policy.lora!.tensors();
    const moved = after.some((t, i) => t.data.some((x, j) => x !== before[i].data[j]));
    assert.equal(moved, steps > 0, `${name}: ${steps} update steps, adapters ${moved ? "" : "not "}changed`);
  }
  const ev = await evaluateText(family, held, policy, { seed: 0, temperature: 1 });
  assert.equal(ev.tasks, 2);
  const after = await policy.model.weights();
  for (const [name, w] of base) assert.deepEqual(after.get(name), w, `frozen ${name}`);
  policy.dispose();
});
