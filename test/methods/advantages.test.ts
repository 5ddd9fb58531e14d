import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import type { StateAction } from "../../src/core/types";
import { crossFitRidge, ridgeFit, stateFeatures } from "../../src/methods/text/features";
import { StepDiscriminator, stepAdvantages, stepagentInverseConfig } from "../../src/methods/stepagent_inverse";
import { outcomeAdvantages, ppoOutcomeConfig } from "../../src/methods/ppo_outcome";
import { METHODS } from "../../src/methods/registry";

/**
 * Ridge regression with an unpenalised intercept, solved another way: the (p + 1)×(p + 1) normal
 * equations of the uncentred problem in [w; b], [XᵀX + λI, Xᵀ1; 1ᵀX, m][w; b] = [Xᵀy; 1ᵀy], by
 * Gaussian elimination with partial pivoting on dense count rows over the buckets that occur.
 */
function ridgeClosedForm(rows: number[][], y: number[], lambda: number): (row: number[]) => number {
  const buckets = [...new Set(rows.flat())];
  const p = buckets.length;
  const x = rows.map((r) => buckets.map((b) => r.filter((i) => i === b).length));
  const n = p + 1;
  const a = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0));
  rows.forEach((_, k) => {
    const xk = [...x[k], 1];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) a[i][j] += xk[i] * xk[j];
      a[i][n] += xk[i] * y[k];
    }
  });
  for (let i = 0; i < p; i++) a[i][i] += lambda;
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[piv][c])) piv = r;
    [a[c], a[piv]] = [a[piv], a[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let k = c; k <= n; k++) a[r][k] -= f * a[c][k];
    }
  }
  const sol = a.map((row, i) => row[n] / row[i]);
  return (row) => row.reduce((acc, i) => acc + (buckets.includes(i) ? sol[buckets.indexOf(i)] : 0), sol[p]);
}

function randomRows(rng: Rng, m: number, vocab: number[], perRow: number): number[][] {
  return Array.from({ length: m }, () => Array.from({ length: 1 + rng.int(perRow) }, () => vocab[rng.int(vocab.length)]));
}

test("ridgeFit: the primal (p ≤ m) and dual (p > m) solutions match the normal equations solved by Gaussian elimination, ≤ 1e-8", () => {
  const rng = new Rng(11);
  for (const [m, vocabSize] of [
    [40, 8],
    [6, 25],
  ]) {
    const vocab = Array.from({ length: vocabSize }, (_, i) => 7 * i + 3);
    const rows = randomRows(rng, m, vocab, 6); // repeats in a row count twice
    const y = rows.map(() => rng.uniform() * 4 - 2);
    const fit = ridgeFit(rows, y, 0.7);
    const closed = ridgeClosedForm(rows, y, 0.7);
    const probes = [...rows, ...randomRows(rng, 10, [...vocab, 99999], 6), []];
    let worst = 0;
    for (const r of probes) worst = Math.max(worst, Math.abs(fit.predict(r) - closed(r)));
    assert.ok(worst <= 1e-8, `m ${m}, p ${new Set(rows.flat()).size}: max |Δprediction| ${worst}`);
  }
  // A constant target is fit exactly whatever λ: the intercept is not penalised.
  const c = ridgeFit([[1], [2], [1, 2]], [3, 3, 3], 100);
  assert.ok(Math.abs(c.predict([1]) - 3) < 1e-12 && Math.abs(c.predict([]) - 3) < 1e-12);
  assert.throws(() => ridgeFit([[1]], [1], 0), /λ must be > 0/);
});

test("crossFitRidge: each fold is predicted by the closed-form fit on the other folds", () => {
  const rng = new Rng(12);
  const rows = randomRows(rng, 30, [1, 2, 3, 4, 5, 6], 4);
  const y = rows.map(() => rng.uniform());
  const fold = rows.map((_, i) => i % 3);
  const pred = crossFitRidge(rows, y, fold, 3, 0.5);
  for (let f = 0; f < 3; f++) {
    const train = rows.map((_, i) => i).filter((i) => fold[i] !== f);
    const closed = ridgeClosedForm(
      train.map((i) => rows[i]),
      train.map((i) => y[i]),
      0.5,
    );
    for (let i = 0; i < rows.length; i++) if (fold[i] === f) assert.ok(Math.abs(pred[i] - closed(rows[i])) <= 1e-8, `row ${i}`);
  }
});

// Six expert steps at distinct states; words overlap across states so the fits generalise.
const expert: StateAction[] = [
  { state: "kitchen with a red apple on the table", action: "take apple" },
  { state: "kitchen with a green pear on the shelf", action: "take pear" },
  { state: "garden with a red apple under the tree", action: "take apple" },
  { state: "garden with a blue cup on the bench", action: "take cup" },
  { state: "hall with a green pear in the basket", action: "take pear" },
  { state: "hall with a blue cup on the floor", action: "take cup" },
];
const wrong = ["look", "go north", "open door", "wait", "drop cup", "go south"];

test("stepAdvantages: a proposal identical to a fold-0 expert step is scored by the discriminator fit on fold 1 only", () => {
  const c = stepagentInverseConfig.parse({ advantageScale: "reward", discriminator: { heldOut: "steps" } });
  // n = 1; proposal 0 is the expert's own step 0 (fold 0), the rest are wrong actions.
  const proposals = expert.map((e, i) => ({ state: e.state, action: i === 0 ? e.action : wrong[i] }));
  const out = stepAdvantages(expert, proposals, c);
  assert.deepEqual(out.folds, [0, 1, 0, 1, 0, 1]);
  for (const f of [0, 1]) {
    const d = new StepDiscriminator();
    d.fit(
      expert.filter((_, i) => i % 2 !== f),
      proposals.filter((_, i) => i % 2 !== f),
      c.discriminator,
    );
    for (let j = f; j < proposals.length; j += 2) assert.ok(Math.abs(out.rewards[j] - d.reward(proposals[j].state, proposals[j].action)) <= 1e-12);
  }
  // heldOut "proposals" (the default): every discriminator sees every expert step, and fold f's proposals are left out.
  const c2 = stepagentInverseConfig.parse({ advantageScale: "reward" });
  assert.equal(c2.discriminator.heldOut, "proposals");
  const out2 = stepAdvantages(expert, proposals, c2);
  for (const f of [0, 1]) {
    const d = new StepDiscriminator();
    d.fit(
      expert,
      proposals.filter((_, i) => i % 2 !== f),
      c2.discriminator,
    );
    for (let j = f; j < proposals.length; j += 2) assert.ok(Math.abs(out2.rewards[j] - d.reward(proposals[j].state, proposals[j].action)) <= 1e-12);
  }
  assert.ok(out2.rewards[0] > out.rewards[0], "knowing the expert's action at its state raises the matching proposal's reward");
  // The in-sample fit (all steps, proposal 0 labelled both 1 and 0) gives proposal 0 another reward.
  const all = new StepDiscriminator();
  all.fit(expert, proposals, c.discriminator);
  const inSample = all.reward(proposals[0].state, proposals[0].action);
  assert.ok(Math.abs(inSample - out.rewards[0]) > 0.1, `in-sample ${inSample} vs cross-fitted ${out.rewards[0]}`);
});

for (const heldOut of ["steps", "proposals"] as const)
  test(`stepAdvantages, n = 1, heldOut ${heldOut}: the learned baseline is the closed-form ridge on the fold's other sub-fold, and ignores the proposal's own action`, () => {
    // 12 expert steps (the six twice, so each fold has two sub-folds with data): fold i mod 2, sub-fold ⌊i/2⌋ mod 2.
    const ex = [...expert, ...expert.map((e) => ({ ...e, state: `${e.state} again` }))];
    const c = stepagentInverseConfig.parse({ advantageScale: "reward", baseline: { ridge: 0.3 }, discriminator: { heldOut } });
    const proposals = ex.map((e, i) => ({ state: e.state, action: i % 3 ? wrong[i % 6] : e.action }));
    const out = stepAdvantages(ex, proposals, c);
    for (let j = 0; j < ex.length; j++) {
      const train = ex.map((_, i) => i).filter((i) => i % 2 === j % 2 && Math.floor(i / 2) % 2 !== Math.floor(j / 2) % 2);
      const closed = ridgeClosedForm(
        train.map((i) => stateFeatures(proposals[i].state)),
        train.map((i) => out.rewards[i]),
        0.3,
      );
      assert.ok(Math.abs(out.baselines[j] - closed(stateFeatures(proposals[j].state))) <= 1e-8, `baseline ${j}`);
      assert.ok(Math.abs(out.advantages[j] - (out.rewards[j] - out.baselines[j])) <= 1e-12);
    }
    for (const j of [0, 5, 10]) {
      const changed = proposals.map((p, i) => (i === j ? { ...p, action: p.action === "take pear" ? "look" : "take pear" } : p));
      const again = stepAdvantages(ex, changed, c);
      assert.notEqual(again.rewards[j], out.rewards[j]);
      assert.equal(again.baselines[j], out.baselines[j], `baseline of proposal ${j} moved with its own action`);
    }
  });

test("stepAdvantages, n ≥ 2: leave-one-out mean of the other proposals at the state in the fold; independent of the proposal's own action", () => {
  const c = stepagentInverseConfig.parse({ advantageScale: "reward" });
  // n = 3 per expert step; expert steps 0 and 2 share a state (both fold 0), so their six proposals form one group.
  const ex = expert.map((e, i) => (i === 2 ? { ...e, state: expert[0].state } : e));
  const proposals = ex.flatMap((e, i) => [0, 1, 2].map((k) => ({ state: e.state, action: k === 0 && i % 2 ? e.action : wrong[(i + k) % 6] })));
  const out = stepAdvantages(ex, proposals, c);
  for (let j = 0; j < proposals.length; j++) {
    let sum = 0;
    let count = 0;
    for (let k = 0; k < proposals.length; k++)
      if (k !== j && proposals[k].state === proposals[j].state && out.folds[k] === out.folds[j]) {
        sum += out.rewards[k];
        count++;
      }
    assert.equal(count, j < 3 || (j >= 6 && j < 9) ? 5 : 2);
    assert.ok(Math.abs(out.baselines[j] - sum / count) <= 1e-12, `baseline ${j}`);
  }
  const changed = proposals.map((p, i) => (i === 4 ? { ...p, action: p.action === "take pear" ? "look" : "take pear" } : p));
  const again = stepAdvantages(ex, changed, c);
  assert.notEqual(again.rewards[4], out.rewards[4]);
  assert.equal(again.baselines[4], out.baselines[4]);
  assert.notEqual(again.baselines[3], out.baselines[3], "a neighbour's baseline does use proposal 4's reward");
});

test("advantageScale: 'reward' keeps r − b in nats, 'rms-beta' scales it to RMS β; the ablations accept and inherit it", () => {
  const proposals = expert.flatMap((e, i) => [
    { state: e.state, action: i % 2 ? e.action : wrong[i] },
    { state: e.state, action: wrong[(i + 1) % 6] },
  ]);
  const nats = stepAdvantages(expert, proposals, stepagentInverseConfig.parse({ advantageScale: "reward" }));
  const scaled = stepAdvantages(expert, proposals, stepagentInverseConfig.parse({ beta: 0.75 }));
  const raw = nats.rewards.map((r, j) => r - nats.baselines[j]);
  assert.deepEqual(nats.advantages, raw);
  const rms = Math.sqrt(raw.reduce((a, x) => a + x * x, 0) / raw.length);
  assert.ok(rms > 0.1, `rms ${rms}`);
  scaled.advantages.forEach((a, j) => assert.ok(Math.abs(a - (0.75 * raw[j]) / rms) <= 1e-12));
  assert.equal(stepagentInverseConfig.parse({}).advantageScale, "rms-beta");
  const off = stepAdvantages(expert, proposals, stepagentInverseConfig.parse({ stepSignal: false, advantageScale: "reward" }));
  assert.ok(off.advantages.every((a) => a === 0));
  for (const name of ["stepagent-anchor-only", "stepagent-no-anchor"] as const) {
    const config = METHODS[name].text!.config;
    assert.equal((config.parse({}) as { advantageScale: string }).advantageScale, "rms-beta");
    assert.equal((config.parse({ advantageScale: "reward" }) as { advantageScale: string }).advantageScale, "reward");
    assert.throws(() => config.parse({ advantageScale: "nats" }));
  }
  assert.throws(() => stepagentInverseConfig.parse({ discriminator: { folds: 1 } }));
  assert.throws(() => ppoOutcomeConfig.parse({ value: { folds: 2, lag: 1 } }));
});

test("outcome PPO: advantages have mean 0 and std 1; a state-only return pattern is removed by the cross-fitted V", () => {
  const rng = new Rng(21);
  const states: string[] = [];
  const returns: number[] = [];
  const episodes: number[] = [];
  // 40 episodes of 5 steps; an "easy" task returns about 1, a "hard" one about 0, plus episode noise.
  for (let e = 0; e < 40; e++) {
    const easy = rng.uniform() < 0.5;
    const r = (easy ? 1 : 0) + 0.1 * (rng.uniform() - 0.5);
    for (let t = 0; t < 5; t++) {
      states.push(`task ${easy ? "easy" : "hard"} room ${rng.int(4)} step ${t}`);
      returns.push(r);
      episodes.push(e);
    }
  }
  const value = ppoOutcomeConfig.parse({ value: { ridge: 1 } }).value;
  const out = outcomeAdvantages(states, returns, episodes, value);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = (xs: number[]) => mean(xs.map((x) => (x - mean(xs)) ** 2));
  assert.ok(Math.abs(mean(out.advantages)) <= 1e-12, `mean ${mean(out.advantages)}`);
  assert.ok(Math.abs(variance(out.advantages) - 1) <= 1e-12, `variance ${variance(out.advantages)}`);
  const meanBaseline = returns.map((r) => r - mean(returns));
  const ratio = variance(out.raw) / variance(meanBaseline);
  assert.ok(ratio < 0.1, `Var(R − V) / Var(R − mean R) = ${ratio}`);
  // V at an episode's steps does not move with that episode's return (cross-fitted by episode).
  const changed = returns.map((r, i) => (episodes[i] === 7 ? r + 5 : r));
  const again = outcomeAdvantages(states, changed, episodes, value);
  episodes.forEach((e, i) => e === 7 && assert.equal(again.values[i], out.values[i]));
  // Every episode with the same return: no signal, every advantage 0.
  assert.ok(
    outcomeAdvantages(
      states,
      states.map(() => 0.3),
      episodes,
      value,
    ).advantages.every((a) => a === 0),
  );
});
