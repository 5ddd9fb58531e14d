import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend, tf } from "../../src/backend";
import { HfPolicy } from "../../src/hf/policy";
import { nllLoss } from "../../src/policies/text_sft";
import { AdamTrainer } from "../../src/optim/adam";
import { klAndLogRatio } from "../../src/methods/stepagent_inverse";
import { writeFixtureModel } from "../../src/hf/fixture";
import { referenceLogits } from "./reference";
import { bruteKl, logSoftmax64, readByPair, worstLogNormaliser, worstRowDiff } from "../methods/token_kl";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hf-kl-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
const llama = path.join(tmp, "llama");
writeFixtureModel(llama, { kind: "llama", seed: 31, heads: 4, kvHeads: 2, config: { max_position_embeddings: 256 } });
const gpt2 = path.join(tmp, "gpt2");
writeFixtureModel(gpt2, { kind: "gpt2", seed: 32, config: { n_positions: 256 } });

const STATES = ["You are in the hall. hello world", "the room is dark", "hello"];
const ACTIONS = ["go north", "look", "take the lamp"];
const TRAIN = STATES.map((state, i) => ({ state, action: ACTIONS[(i + 1) % ACTIONS.length] }));

async function adamStep(policy: HfPolicy, lr: number): Promise<void> {
  const trainer = new AdamTrainer(policy.trainable(), lr);
  await trainer.step(() => nllLoss(policy, TRAIN));
  trainer.dispose();
}

/** PyTorch's logits rows (float64) at the positions log π(a|s) scores, for each pair alone, with an adapter folder. */
function torchRows(policy: HfPolicy, dir: string, adapter: string): number[][][] {
  return STATES.map((s, i) => {
    const prompt = policy.prompt(s);
    const ids = [...prompt, ...policy.actionIds(ACTIONS[i]), policy.endId];
    return referenceLogits(dir, [ids], adapter)[0].slice(prompt.length - 1, ids.length - 1);
  });
}

async function klOf(p: HfPolicy, q: HfPolicy): Promise<Float32Array> {
  const r = tf.tidy(() => klAndLogRatio(p.nextTokenLogProbs(STATES, ACTIONS), q.nextTokenLogProbs(STATES, ACTIONS)));
  r.logRatio.dispose();
  const kl = (await r.kl.data()) as Float32Array;
  r.kl.dispose();
  return kl;
}

for (const [name, dir, format] of [
  ["llama, chat template", llama, "chat"],
  ["gpt2, ReAct text", gpt2, "react"],
] as const) {
  test(`${name}, LoRA: next-token rows = PyTorch's log-softmax; KL(π_θ‖snapshot) = a float64 brute force on PyTorch's logits`, async () => {
    await initBackend();
    const policy = HfPolicy.load(dir, { format, maxContext: 192, maxActionTokens: 12, lora: { dropout: 0, r: 4, seed: 1 } });
    await adamStep(policy, 5e-2); // adapters away from B = 0, so the snapshot copies non-trivial ones
    const reference = await policy.snapshot();
    const at0 = await klOf(policy, reference);
    assert.ok(Math.max(...Array.from(at0, Math.abs)) <= 1e-6, `KL at θ = π_k: ${Array.from(at0)}`);
    const refBefore = await reference.logProbs(STATES, ACTIONS);
    await adamStep(policy, 5e-2);
    assert.deepEqual(await reference.logProbs(STATES, ACTIONS), refBefore, "the snapshot is unchanged by the step");

    const thetaDir = path.join(tmp, `${format}-theta`);
    const kDir = path.join(tmp, `${format}-k`);
    await policy.lora!.save(thetaDir);
    await reference.lora!.save(kDir);
    const torchTheta = torchRows(policy, dir, thetaDir);
    const torchK = torchRows(policy, dir, kDir);

    const { rows, targets } = await readByPair(policy.nextTokenLogProbs(STATES, ACTIONS));
    const logp = await policy.logProbs(STATES, ACTIONS);
    let worstRow = 0;
    let worstSum = 0;
    STATES.forEach((_, i) => {
      worstRow = Math.max(worstRow, worstRowDiff(rows[i], torchTheta[i].map(logSoftmax64)));
      worstSum = Math.max(worstSum, Math.abs(targets[i].reduce((a, id, t) => a + rows[i][t][id], 0) - logp[i]));
    });
    const norm = worstLogNormaliser(rows);
    const kl = await klOf(policy, reference);
    const brute = STATES.map((_, i) => bruteKl(torchTheta[i], torchK[i]));
    const worstKl = Math.max(...brute.map((b, i) => Math.abs(kl[i] - b)));
    console.log(
      `${name}: rows vs torch ${worstRow.toExponential(2)}; Σ at targets vs log π ${worstSum.toExponential(2)}; |log Σ exp| ${norm.toExponential(2)}; ` +
        `KL ${Array.from(kl, (x) => x.toFixed(4)).join(", ")} vs torch brute force: max |Δ| ${worstKl.toExponential(2)}`,
    );
    assert.ok(worstRow <= 5e-5, `rows vs torch: ${worstRow}`);
    assert.ok(worstSum <= 1e-5, `Σ at targets vs logProbs: ${worstSum}`);
    assert.ok(norm <= 1e-5, `|log Σ exp(row)|: ${norm}`);
    assert.ok(Math.min(...brute) > 1e-3, `the step moved θ: ${brute}`);
    assert.ok(worstKl <= 1e-5 + 1e-5 * Math.max(...brute), `KL vs brute force: ${Array.from(kl)} vs ${brute}`);

    // The snapshot shares the frozen base: disposing it leaves the policy whole.
    const before = await policy.logProbs(STATES, ACTIONS);
    reference.dispose();
    assert.deepEqual(await policy.logProbs(STATES, ACTIONS), before);
    policy.dispose();
  });
}

test("full fine-tuning: the snapshot is a weight copy a step does not move; KL = brute force over whole-sequence logits", async () => {
  await initBackend();
  const policy = HfPolicy.load(gpt2, { format: "react", maxContext: 192, maxActionTokens: 12, lora: false });
  const reference = await policy.snapshot();
  assert.ok(Math.max(...Array.from(await klOf(policy, reference), Math.abs)) <= 1e-6);
  const refBefore = await reference.logProbs(STATES, ACTIONS);
  await adamStep(policy, 1e-2);
  assert.deepEqual(await reference.logProbs(STATES, ACTIONS), refBefore, "the snapshot is unchanged by the step");
  const rowsOf = (p: HfPolicy, i: number) => {
    const prompt = p.prompt(STATES[i]);
    const ids = [...prompt, ...p.actionIds(ACTIONS[i]), p.endId];
    const all = tf.tidy(() => p.model.logits(tf.tensor2d(ids, [1, ids.length], "int32")).arraySync())[0];
    return all.slice(prompt.length - 1, ids.length - 1);
  };
  const kl = await klOf(policy, reference);
  const brute = STATES.map((_, i) => bruteKl(rowsOf(policy, i), rowsOf(reference, i)));
  console.log(`full fine-tuning: KL ${Array.from(kl, (x) => x.toExponential(3)).join(", ")} vs brute force ${brute.map((x) => x.toExponential(3)).join(", ")}`);
  assert.ok(Math.min(...brute) > 1e-3, `the step moved θ: ${brute}`);
  assert.ok(
    brute.every((b, i) => Math.abs(kl[i] - b) <= 1e-5 + 1e-5 * b),
    `KL vs brute force: ${Array.from(kl)} vs ${brute}`,
  );
  reference.dispose();
  policy.dispose();
});
