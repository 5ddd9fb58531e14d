import { test } from "node:test";
import assert from "node:assert/strict";
import { initBackend, tf } from "../../src/backend";
import { Rng } from "../../src/core/rng";
import { Tokenizer, EOS } from "../../src/policies/tokenizer";
import { TransformerPolicy } from "../../src/policies/transformer";
import { nllLoss } from "../../src/policies/text_sft";
import { AdamTrainer } from "../../src/optim/adam";
import { klAndLogRatio, ppoUpdate, stepagentInverseConfig } from "../../src/methods/stepagent_inverse";
import { bruteKl, logSoftmax64, readByPair, worstLogNormaliser, worstRowDiff } from "./token_kl";

const texts = ["go to desk 1", "take mug 1 from desk 1", "Your task is to: put a mug in cabinet.", "You arrive at desk 1. On the desk 1, you see a mug 1."];
const tiny = { dModel: 16, heads: 2, layers: 1, context: 48, maxActionTokens: 12, seed: 3 };
const STATES = ["You arrive at desk 1.", "Your task is to: put a mug in cabinet. You arrive at desk 1. On the desk 1, you see a mug 1.", "go", "desk"];
const ACTIONS = ["take mug 1 from desk 1", "go to desk 1", "", "put mug 1 in cabinet 2"];

/**
 * A policy whose next-token distributions are far from uniform (token embeddings scaled up), so
 * KLs between two of them are of order 1 rather than ~0 as at a fresh initialisation.
 */
async function sharpPolicy(tok: Tokenizer, seed: number): Promise<TransformerPolicy> {
  const fresh = new TransformerPolicy(tok, { ...tiny, seed });
  const w = await fresh.weights();
  fresh.dispose();
  w.set(
    "tok",
    w.get("tok")!.map((x) => x * 40),
  );
  return new TransformerPolicy(tok, { ...tiny, seed }, w);
}

/** Logits rows from one whole-sequence forward pass of the pair alone, at the positions log π(a|s) scores, and their targets. */
function fullRows(p: TransformerPolicy, state: string, action: string): { logits: number[][]; targets: number[] } {
  const enc = p.encode([state], [action]);
  const all = tf.tidy(() => p.logits(tf.tensor2d(enc.ids, [1, enc.length], "int32")).arraySync())[0];
  const logits: number[][] = [];
  const targets: number[] = [];
  for (let t = 0; t < enc.length; t++) {
    if (enc.mask[t] === 0) continue;
    logits.push(all[t]);
    targets.push(enc.ids[t + 1]);
  }
  return { logits, targets };
}

test("nextTokenLogProbs: each row is the log-softmax of a whole-sequence pass, a distribution; at the targets it sums to log π(a|s)", async () => {
  await initBackend();
  const tok = Tokenizer.fit(texts, { minCount: 1 });
  const policy = await sharpPolicy(tok, 3);
  const { rows, targets, maskedOutAfter } = await readByPair(policy.nextTokenLogProbs(STATES, ACTIONS));
  assert.ok(maskedOutAfter, "the mask is 1 on a prefix of each pair's positions");
  assert.deepEqual(
    rows.map((r) => r.length),
    policy.scoredTokens(STATES, ACTIONS),
  );
  const logp = await policy.logProbs(STATES, ACTIONS);
  let worstRow = 0;
  let worstSum = 0;
  STATES.forEach((s, i) => {
    assert.deepEqual(targets[i], [...tok.encode(ACTIONS[i]).slice(0, tiny.maxActionTokens), EOS]);
    const alone = fullRows(policy, s, ACTIONS[i]);
    assert.deepEqual(alone.targets, targets[i]);
    worstRow = Math.max(worstRow, worstRowDiff(rows[i], alone.logits.map(logSoftmax64)));
    worstSum = Math.max(worstSum, Math.abs(targets[i].reduce((a, id, t) => a + rows[i][t][id], 0) - logp[i]));
  });
  const norm = worstLogNormaliser(rows);
  console.log(
    `rows vs whole-sequence log-softmax ${worstRow.toExponential(2)}; Σ at targets vs log π ${worstSum.toExponential(2)}; ` +
      `|log Σ exp| ${norm.toExponential(2)}`,
  );
  assert.ok(worstRow <= 1e-5, `rows vs whole-sequence log-softmax: ${worstRow}`);
  assert.ok(worstSum <= 1e-5, `Σ at targets vs logProbs: ${worstSum}`);
  assert.ok(norm <= 1e-5, `|log Σ exp(row)|: ${norm}`);
  policy.dispose();
});

/** Per pair, KL(p‖q) summed over the scored tokens, by brute force from whole-sequence logits (float64). */
function bruteKls(p: TransformerPolicy, q: TransformerPolicy, states: string[], actions: string[]): number[] {
  return states.map((s, i) => bruteKl(fullRows(p, s, actions[i]).logits, fullRows(q, s, actions[i]).logits));
}

async function klOf(p: TransformerPolicy, q: TransformerPolicy): Promise<{ kl: Float32Array; logRatio: Float32Array }> {
  const r = tf.tidy(() => klAndLogRatio(p.nextTokenLogProbs(STATES, ACTIONS), q.nextTokenLogProbs(STATES, ACTIONS)));
  const out = { kl: (await r.kl.data()) as Float32Array, logRatio: (await r.logRatio.data()) as Float32Array };
  tf.dispose([r.kl, r.logRatio, r.tokenLogRatio]);
  return out;
}

/** max relative |a − b| / max(1, |b|). */
const worstRel = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]) / Math.max(1, Math.abs(b[i]))));

test("exact KL(π_θ‖π_k) of two policies = a float64 brute force over their full next-token distributions; log ρ = the log π difference", async () => {
  await initBackend();
  const tok = Tokenizer.fit(texts, { minCount: 1 });
  const p = await sharpPolicy(tok, 3);
  const q = await sharpPolicy(tok, 4);
  const { kl, logRatio } = await klOf(p, q);
  const brute = bruteKls(p, q, STATES, ACTIONS);
  const lp = await p.logProbs(STATES, ACTIONS);
  const lq = await q.logProbs(STATES, ACTIONS);
  console.log(`KL per pair ${Array.from(kl, (x) => x.toFixed(3)).join(", ")}; vs brute force ${worstRel(kl, brute).toExponential(2)} (relative)`);
  assert.ok(Math.min(...brute) > 0.1, "the two policies differ by tenths of nats or more, not by rounding");
  assert.ok(worstRel(kl, brute) <= 1e-5, `KL vs brute force: ${Array.from(kl)} vs ${brute}`);
  assert.ok(
    worstRel(
      logRatio,
      Array.from(lp, (x, i) => x - lq[i]),
    ) <= 1e-5,
    "log ρ vs log π_θ − log π_k",
  );
  // And the other direction is a different number: the penalty is KL(π_θ‖π_k), not KL(π_k‖π_θ).
  const reverse = bruteKls(q, p, STATES, ACTIONS);
  assert.ok(
    reverse.some((r, i) => Math.abs(r - kl[i]) > 0.05),
    `KL(q‖p) ${reverse} vs KL(p‖q) ${Array.from(kl)}`,
  );
  p.dispose();
  q.dispose();
});

test("at θ = π_k (a snapshot) the penalty and its gradient are 0; after an Adam step it is positive, = brute force; the snapshot stays", async () => {
  await initBackend();
  const tok = Tokenizer.fit(texts, { minCount: 1 });
  const policy = await sharpPolicy(tok, 3);
  const reference = await policy.snapshot();
  const at0 = await klOf(policy, reference);
  assert.ok(Math.max(...Array.from(at0.kl, Math.abs)) <= 1e-6, `KL at θ = π_k: ${Array.from(at0.kl)}`);
  assert.ok(Math.max(...Array.from(at0.logRatio, Math.abs)) <= 1e-6, `log ρ at θ = π_k: ${Array.from(at0.logRatio)}`);
  const penaltyGrads = () =>
    tf.variableGrads(
      () => tf.mean(klAndLogRatio(policy.nextTokenLogProbs(STATES, ACTIONS), reference.nextTokenLogProbs(STATES, ACTIONS)).kl) as tf.Scalar,
      policy.trainable(),
    );
  const g0 = tf.tidy(() => Math.max(...Object.values(penaltyGrads().grads).map((g) => tf.max(tf.abs(g)).dataSync()[0])));
  assert.equal(g0, 0, "the penalty's gradient at θ = π_k");

  const refBefore = await reference.logProbs(STATES, ACTIONS);
  const trainer = new AdamTrainer(policy.trainable(), 1e-2);
  await trainer.step(() =>
    nllLoss(
      policy,
      STATES.map((state, i) => ({ state, action: ACTIONS[(i + 1) % ACTIONS.length] })),
    ),
  );
  trainer.dispose();
  assert.deepEqual(await reference.logProbs(STATES, ACTIONS), refBefore, "the snapshot is unchanged by the step");
  const at1 = await klOf(policy, reference);
  const brute = bruteKls(policy, reference, STATES, ACTIONS);
  console.log(
    `KL after one step ${Array.from(at1.kl, (x) => x.toExponential(2)).join(", ")}; vs brute force ${worstRel(at1.kl, brute).toExponential(2)} (relative)`,
  );
  assert.ok(at1.kl.every((x) => x > 0));
  assert.ok(
    Array.from(at1.kl).every((x, i) => Math.abs(x - brute[i]) <= 2e-4 * brute[i] + 1e-6),
    `KL vs brute force: ${Array.from(at1.kl)} vs ${brute}`,
  );

  // Its gradient equals autodiff's of the plain formula Σ mask·Σ_v p (log p − log q).
  const plainGrads = () =>
    tf.variableGrads(() => {
      const cur = policy.nextTokenLogProbs(STATES, ACTIONS);
      const ref = reference.nextTokenLogProbs(STATES, ACTIONS);
      const perToken = tf.sum(tf.mul(tf.exp(cur.logProbs), tf.sub(cur.logProbs, ref.logProbs)), 2);
      return tf.mean(tf.sum(tf.mul(perToken, cur.mask), 1)) as tf.Scalar;
    }, policy.trainable());
  const { worst, scale } = tf.tidy(() => {
    const a = penaltyGrads().grads;
    const b = plainGrads().grads;
    let worst = 0;
    let scale = 0;
    for (const name of Object.keys(b)) {
      worst = Math.max(worst, tf.max(tf.abs(tf.sub(a[name], b[name]))).dataSync()[0]);
      scale = Math.max(scale, tf.max(tf.abs(b[name])).dataSync()[0]);
    }
    return { worst, scale };
  });
  console.log(`penalty gradient vs autodiff of the plain formula: max |Δ| ${worst.toExponential(2)} of max |g| ${scale.toExponential(2)}`);
  assert.ok(scale > 0 && worst <= 1e-3 * scale, `gradient: max |Δ| ${worst}, max |g| ${scale}`);
  policy.dispose();
  reference.dispose();
});

for (const clipPer of ["sequence", "token"] as const)
  test(`ppoUpdate (ρ clipped per ${clipPer}): loss = −clipped surrogate + β·exact KL, by brute force at its second step`, async () => {
    await initBackend();
    const tok = Tokenizer.fit(texts, { minCount: 1 });
    const start = await sharpPolicy(tok, 3);
    const weights = await start.weights();
    const samples = STATES.map((state, i) => ({ state, action: ACTIONS[i] }));
    const advantages = [1.5, -0.5, 0.8, -1.2];
    const config = stepagentInverseConfig.parse({
      beta: 0.75,
      clip: 0.2,
      clipPer,
      optimisation: { steps: 2, batchSize: 4, learningRate: 3e-2, fullBatches: true },
    });
    const copy = () => new TransformerPolicy(tok, tiny, weights);
    const oneStep = copy();
    await ppoUpdate(oneStep, samples, advantages, { ...config, optimisation: { ...config.optimisation, steps: 1 }, seed: 5 });
    const twoSteps = copy();
    const { losses } = await ppoUpdate(twoSteps, samples, advantages, { ...config, seed: 5 });
    // The batches ppoUpdate draws: B indices per step from the seeded stream.
    const rng = new Rng(5).fork("ppo-batches");
    const batches = [0, 1].map(() => Array.from({ length: 4 }, () => rng.int(samples.length)));
    // Per pair, the log-probs of its scored tokens, from whole-sequence logits (float64).
    const tokenLogp = (p: TransformerPolicy) =>
      STATES.map((s, i) => {
        const r = fullRows(p, s, ACTIONS[i]);
        return r.targets.map((id, t) => logSoftmax64(r.logits[t])[id]);
      });
    const lt0 = tokenLogp(start);
    const lt1 = tokenLogp(oneStep);
    const clipped = (rho: number, A: number) => Math.min(rho * A, Math.min(Math.max(rho, 1 - config.clip), 1 + config.clip) * A);
    // ρ per action (the product of its tokens' ratios), or one ρ_t per token, each clipped.
    const surrogateOf = (i: number) => {
      const logRatios = lt1[i].map((x, t) => x - lt0[i][t]);
      return clipPer === "sequence"
        ? clipped(Math.exp(logRatios.reduce((a, b) => a + b, 0)), advantages[i])
        : logRatios.reduce((a, lr) => a + clipped(Math.exp(lr), advantages[i]), 0);
    };
    // Step 1 starts at π_k: every ρ = 1 and KL = 0, so the loss is −mean A (per token: −mean A·tokens).
    const first = -batches[0].reduce((a, i) => a + advantages[i] * (clipPer === "sequence" ? 1 : lt0[i].length), 0) / 4;
    assert.ok(Math.abs(losses[0] - first) <= 1e-5 * Math.max(1, Math.abs(first)), `first loss ${losses[0]} vs ${first}`);
    // Step 2 from θ₁ (= oneStep): the surrogate from the float64 ratios, KL from whole-sequence logits.
    const kls = bruteKls(oneStep, start, STATES, ACTIONS);
    const surrogate = batches[1].reduce((a, i) => a + surrogateOf(i) / 4, 0);
    const kl = batches[1].reduce((a, i) => a + kls[i] / 4, 0);
    const second = -surrogate + config.beta * kl;
    console.log(`${clipPer}: second loss ${losses[1].toFixed(6)} vs brute force ${second.toFixed(6)} (β·KL ${(config.beta * kl).toExponential(2)})`);
    assert.ok(kl > 1e-4, `the step moved θ: KL ${kl}`);
    assert.ok(Math.abs(losses[1] - second) <= 1e-5 + 1e-4 * Math.abs(second), `second loss ${losses[1]} vs ${second}`);
    for (const p of [start, oneStep, twoSteps]) p.dispose();
  });

test("ppoUpdate: no advantage, no anchor: it stays at π_k", async () => {
  await initBackend();
  const tok = Tokenizer.fit(texts, { minCount: 1 });
  const start = await sharpPolicy(tok, 3);
  const weights = await start.weights();
  const samples = STATES.map((state, i) => ({ state, action: ACTIONS[i] }));
  const config = stepagentInverseConfig.parse({ beta: 0.75, clip: 0.2, optimisation: { steps: 2, batchSize: 4, learningRate: 3e-2, fullBatches: true } });
  const copy = () => new TransformerPolicy(tok, tiny, weights);
  // No advantage, no anchor: the penalty's minimum is π_k and its gradient there is exactly 0.
  const still = copy();
  await ppoUpdate(still, samples, [0, 0, 0, 0], { ...config, nllWeight: 0, optimisation: { ...config.optimisation, steps: 3 }, seed: 5 });
  const after = await still.weights();
  for (const [name, w] of weights) assert.deepEqual(after.get(name), w, `${name} moved`);
  for (const p of [start, still]) p.dispose();
});
