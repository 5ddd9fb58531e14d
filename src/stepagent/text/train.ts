/**
 * One training run of a method on a text environment, on a fixed budget:
 *   sft                  supervised fine-tuning on the expert steps (the warm start of the others)
 *   stepagent-implicit   SFT, then K cycles of inspection at expert prefixes + step-DPO (π_ref = π_k)
 *   stepagent-inverse    SFT, then K cycles of inspection + step discriminator reward + PPO-clip
 *   rft | ppo | eto | ipr  SFT, then K cycles of the baseline (src/baselines/text/), each spending the
 *                        same number of agent actions per cycle as StepAgent's inspection
 * Evaluated on the held-out split after the warm start and after every cycle.
 */
import { Rng } from "../../core/rng";
import { InputError, requireInteger } from "../../core/errors";
import { textEnv, splitTasks, expertTrajectory } from "../../envs/text";
import { Tokenizer } from "../../policies/tokenizer";
import { TransformerPolicy, type TransformerConfig } from "../../policies/transformer";
import { expertSteps, trainSft } from "../../policies/text_sft";
import { inspectText } from "./inspect";
import { reflectImplicitText } from "./implicit";
import { reflectInverseText } from "./inverse";
import { rftCycle } from "../../baselines/text/rft";
import { ppoOutcomeCycle } from "../../baselines/text/ppo_outcome";
import { etoCycle } from "../../baselines/text/eto";
import { iprCycle } from "../../baselines/text/ipr";
import { evaluateText, type Evaluation } from "./evaluate";

export const TEXT_METHODS = ["sft", "stepagent-implicit", "stepagent-inverse", "rft", "ppo", "eto", "ipr"] as const;
export type TextMethod = (typeof TEXT_METHODS)[number];

export interface TextTrainOptions {
  env: string;
  method: string;
  seed: number;
  trainTasks: number;
  testTasks: number;
  sftSteps: number;
  cycles: number;
  samplesPerStep: number;
  dpoSteps: number;
  beta: number;
  nllWeight: number;
  model?: Partial<Omit<TransformerConfig, "vocabSize" | "seed">>;
}

export const QUICK: Omit<TextTrainOptions, "env" | "method" | "seed"> = { trainTasks: 30, testTasks: 20, sftSteps: 120, cycles: 1, samplesPerStep: 2, dpoSteps: 40, beta: 0.1, nllWeight: 1 };
/** The `compare --quick` budget: a tiny model and task set, so 7 methods × 5 seeds fit in minutes. */
export const COMPARE_QUICK: Omit<TextTrainOptions, "env" | "method" | "seed"> = { ...QUICK, trainTasks: 8, testTasks: 8, sftSteps: 30, cycles: 1, samplesPerStep: 2, dpoSteps: 15, model: { dModel: 32, heads: 2, context: 64, maxActionTokens: 16 } };
export const FULL: Omit<TextTrainOptions, "env" | "method" | "seed"> = { trainTasks: 200, testTasks: 100, sftSteps: 1500, cycles: 3, samplesPerStep: 4, dpoSteps: 300, beta: 0.1, nllWeight: 1 };

export interface TextCycleRecord {
  cycle: number;
  evaluation: Evaluation;
  pairs: number;
  matchRate: number | null;
  /** Agent actions taken in this cycle (proposals for StepAgent, environment actions for roll-out baselines). */
  actions: number;
  /**
   * KL(π_E‖π) at the held-out expert states. The scripted experts are deterministic, so this is
   * exactly the mean of −log π(a_E|s) over those states (no sampling estimate needed).
   */
  kl: number;
  seconds: number;
}

export interface TextTrainResult {
  env: string;
  method: TextMethod;
  seed: number;
  cycles: TextCycleRecord[];
  policy: TransformerPolicy;
}

export async function trainText(o: TextTrainOptions, onCycle?: (r: TextCycleRecord) => void): Promise<TextTrainResult> {
  const family = textEnv(o.env);
  if (!(TEXT_METHODS as readonly string[]).includes(o.method)) throw new InputError("method", `unknown method ${JSON.stringify(o.method)} (methods available now: ${TEXT_METHODS.join(", ")})`);
  for (const k of ["trainTasks", "testTasks", "sftSteps", "samplesPerStep"] as const) requireInteger(k, o[k], 1);
  for (const k of ["cycles", "dpoSteps"] as const) requireInteger(k, o[k], 0);
  const method = o.method as TextMethod;
  const { train, test } = splitTasks(family, o.seed, o.trainTasks, o.testTasks);
  const heldOut = expertSteps(test.map((t) => expertTrajectory(family, t)));
  const expert = train.map((t) => expertTrajectory(family, t));
  const data = expertSteps(expert);
  const tokenizer = Tokenizer.fit(data.flatMap((d) => [d.state, d.action]), { maxWords: 400 });
  const policy = new TransformerPolicy(tokenizer, { context: 96, ...o.model, seed: o.seed });
  const rng = new Rng(o.seed);
  const cycles: TextCycleRecord[] = [];
  let t0 = performance.now();
  trainSft(policy, data, { steps: o.sftSteps, batchSize: 32, seed: o.seed, learningRate: 3e-3 }).trainer.dispose();
  const push = (r: Omit<TextCycleRecord, "kl">) => {
    const lp = policy.logProbs(heldOut.map((h) => h.state), heldOut.map((h) => h.action));
    const full = { ...r, kl: -lp.reduce((a, b) => a + b, 0) / Math.max(1, lp.length) };
    cycles.push(full);
    onCycle?.(full);
  };
  push({ cycle: 0, evaluation: evaluateText(family, test, policy, { seed: o.seed }), pairs: 0, matchRate: null, actions: 0, seconds: (performance.now() - t0) / 1000 });
  if (method === "rft" || method === "ppo" || method === "eto" || method === "ipr") {
    for (let k = 1; k <= o.cycles; k++) {
      t0 = performance.now();
      const ctx = { family, train, expert, expertSteps: data, policy, budget: o.samplesPerStep * data.length, updateSteps: o.dpoSteps, beta: method === "ppo" ? 0.1 : o.beta, seed: o.seed + k, rng: rng.fork(`cycle-${k}`) };
      const r = method === "rft" ? rftCycle(ctx) : method === "ppo" ? ppoOutcomeCycle(ctx) : method === "eto" ? etoCycle(ctx) : iprCycle(ctx);
      push({ cycle: k, evaluation: evaluateText(family, test, policy, { seed: o.seed }), pairs: "pairs" in r ? r.pairs : "kept" in r ? r.kept : 0, matchRate: null, actions: r.actions, seconds: (performance.now() - t0) / 1000 });
      await new Promise<void>((res) => setImmediate(res));
    }
  } else if (method !== "sft") {
    for (let k = 1; k <= o.cycles; k++) {
      t0 = performance.now();
      const ins = inspectText(policy, data, { samplesPerStep: o.samplesPerStep, temperature: 1, rng: rng.fork(`cycle-${k}`) });
      if (method === "stepagent-implicit") reflectImplicitText(policy, ins.pairs, { beta: o.beta, nllWeight: o.nllWeight, steps: o.dpoSteps, batchSize: 16, seed: o.seed + k });
      else reflectInverseText(policy, data, ins.samples, { beta: o.beta, steps: o.dpoSteps, batchSize: 16, seed: o.seed + k });
      push({ cycle: k, evaluation: evaluateText(family, test, policy, { seed: o.seed }), pairs: ins.pairs.length, matchRate: ins.matchRate, actions: ins.proposals, seconds: (performance.now() - t0) / 1000 });
      await new Promise<void>((r) => setImmediate(r));
    }
  }
  return { env: family.name, method, seed: o.seed, cycles, policy };
}
