/**
 * The text driver: one training run of a method on a text environment.
 *
 *   π_0 = SFT on the training tasks' expert steps (or a given policy), evaluated: cycle 0
 *   for k = 1 … K:
 *     data   = method.collect(π_k)    spends n × (expert steps) agent actions at most
 *     π_k+1  = method.update(data)    the shared optimisation budget: steps × batch examples
 *     evaluate π_k+1 on the held-out tasks; record KL(π_E‖π) at their expert states
 *
 * Every method starts from the same warm start (same seed, same tasks, same SFT budget).
 */
import { Rng } from "../../core/rng";
import { InputError, requireInteger } from "../../core/errors";
import { textEnv, splitTasks, expertTrajectory } from "../../envs/text";
import { Tokenizer } from "../../policies/tokenizer";
import { TransformerPolicy, type TransformerConfig } from "../../policies/transformer";
import { expertSteps, trainSft } from "../../policies/text_sft";
import type { TextPolicy } from "../../policies/text_policy";
import { contractionFactor } from "../../core/theory";
import { checkBeta, parseConfig, type CycleRecord, type Optimisation } from "../protocol";
import { METHODS, TEXT_METHODS, isMethodName, type MethodName } from "../registry";
import { evaluateText, type Evaluation } from "./rollout";
import { expertStates, klPerState } from "./expert_kl";

/** One cycle of a text run: the common record and the held-out evaluation. */
export type TextCycleRecord = CycleRecord<{
  evaluation: Evaluation;
  /**
   * KL_k / KL_{k−1} at the held-out expert states (null at cycle 0): the measured counterpart of
   * the theory's factor 1 − 1/β, by which the exact tabular cycle shrinks log π(a|s) − log π_E(a|s).
   */
  klRatio: number | null;
}>;

/**
 * Config fields the CLI's --beta, --nll-weight, --update-steps and --batch-size set for every
 * method whose config has them (a method without β, say, is left as it is).
 */
export interface CommonConfig {
  beta?: number;
  nllWeight?: number;
  optimisation?: Partial<Optimisation>;
}

export interface TextTrainOptions {
  env: string;
  method: string;
  seed: number;
  trainTasks: number;
  testTasks: number;
  /** Adam steps of the SFT warm start. */
  sftSteps: number;
  /** Examples per step of the SFT warm start. */
  sftBatchSize: number;
  /** Adam step size of the SFT warm start. */
  sftLearningRate: number;
  /** K: cycles after the warm start. */
  cycles: number;
  /** n: agent proposals per expert step; the action budget of every method is n × expert steps. */
  samplesPerStep: number;
  /** Set for every method whose config has the field (β, λ, the optimisation budget). */
  common?: CommonConfig;
  /** The method's own config (partial, over `common`); unknown fields are refused. */
  config?: Record<string, unknown>;
  /** Run β ≤ ½ anyway (outside the regime where the StepAgent cycle converges). Default false. */
  allowDivergence?: boolean;
  model?: Partial<Omit<TransformerConfig, "vocabSize" | "seed">>;
  /**
   * The SFT warm start of an earlier run with the same env, seed, tasks, SFT budget and model
   * (`TextTrainResult.warmStart`): its weights and cycle-0 record are reused instead of training
   * SFT again. Every method starts from the same warm start, so `compare` trains it once per seed;
   * the result is identical to training it afresh (tested).
   */
  warmStart?: TextWarmStart;
  /**
   * Start from this policy instead of SFT (e.g. a checkpoint of an earlier run: `train --init`);
   * cycle 0 is its evaluation. The run takes ownership (the result's `policy` is this one).
   */
  initial?: TransformerPolicy;
  /**
   * Train this policy instead of the built-in transformer (e.g. a pretrained Hugging Face model,
   * src/hf), with the same SFT warm start and cycles; `key` names it in the warm-start key (the
   * model folder and its settings). With `warmStart` the policy is restored to it instead of
   * trained by SFT, so each method of a comparison loads the model afresh and starts from the
   * seed's one warm start. The run takes ownership.
   */
  pretrained?: { policy: RestorablePolicy; key: string };
}

/**
 * A policy whose trained state can be copied out and put back: for a pretrained model with LoRA
 * that is the adapters alone, not the frozen base.
 */
export interface RestorablePolicy extends TextPolicy {
  /** The weights training changes (copies). */
  trainedWeights(): Promise<Map<string, Float32Array>>;
  /** Sets what `trainedWeights` returned and restarts any training randomness (dropout masks) from its seed. */
  restore(weights: Map<string, Float32Array>): void;
}

export interface TextWarmStart {
  /** What the warm start was trained on; a run with other options refuses it. */
  key: string;
  /** The built-in transformer's weights, or a pretrained policy's `trainedWeights()`. */
  weights: Map<string, Float32Array>;
  record: TextCycleRecord;
}

type Budget = Omit<TextTrainOptions, "env" | "method" | "seed">;

/** `train --quick`: 30 tasks, 120 SFT steps, one cycle of n = 2. */
export const QUICK: Budget = { trainTasks: 30, testTasks: 20, sftSteps: 120, sftBatchSize: 32, sftLearningRate: 3e-3, cycles: 1, samplesPerStep: 2 };
/** The `compare --quick` budget: a tiny model and task set and 15 update steps a cycle, so every method × 5 seeds fit in minutes. */
export const COMPARE_QUICK: Budget = {
  ...QUICK,
  trainTasks: 8,
  testTasks: 8,
  sftSteps: 30,
  cycles: 1,
  samplesPerStep: 2,
  common: { optimisation: { steps: 15 } },
  model: { dModel: 32, heads: 2, layers: 1, context: 64, maxActionTokens: 16 },
};
/**
 * The budget `train` and `compare` use without --quick. Sized so that a comparison of every
 * method over 5 seeds finishes on 2 CPU cores in tens of minutes, and so that SFT on 60 expert
 * trajectories leaves room to improve — an agent that already solves everything leaves nothing
 * to compare.
 */
export const FULL: Budget = { trainTasks: 60, testTasks: 30, sftSteps: 500, sftBatchSize: 32, sftLearningRate: 3e-3, cycles: 2, samplesPerStep: 1 };

/**
 * Per-environment changes to FULL: QA episodes are short (≈ 3.5 expert steps) and its names only
 * generalise from many tasks (60 tasks: held-out KL ≈ 9.8 nats and 0% success; 200 tasks with 800
 * SFT steps: 100%), so it gets more tasks. The shop's one hard step is copying the chosen row's
 * product id; SFT learns it only from many examples (seed 0, held-out: 100 tasks / 500 steps 0%,
 * 200 / 1000 3.3%, 400 / 2000 80% success, KL 0.32 nats).
 */
export const FULL_BY_ENV: Record<string, Partial<Budget>> = { household: {}, qa: { trainTasks: 200 }, shop: { trainTasks: 400, sftSteps: 2000 } };

/** The budget of `train`/`compare` on an environment: quick or full, with that env's changes. */
export function textBudget(env: string, quick: boolean, forCompare = false): Budget {
  if (quick) return forCompare ? COMPARE_QUICK : QUICK;
  return { ...FULL, ...FULL_BY_ENV[env] };
}

/**
 * The model each environment gets unless `model` says otherwise: two blocks (one cannot copy a
 * word that follows a cue, e.g. the name after "directed by"); a context that holds the policy
 * state (WebShop pages are long: 160 tokens).
 */
export const TEXT_MODEL: Record<string, Partial<Omit<TransformerConfig, "vocabSize" | "seed">>> = {
  household: { layers: 2, context: 96, maxActionTokens: 16 },
  qa: { layers: 2, context: 96, maxActionTokens: 16 },
  shop: { layers: 2, context: 160, maxActionTokens: 16 },
};

export interface TextTrainResult {
  env: string;
  method: MethodName;
  seed: number;
  /** The method's full config (every default filled in): β, λ and the optimisation budget are here. */
  config: Record<string, unknown>;
  /** 1 − 1/β for methods with a β (null otherwise): compare with the records' `klRatio`. */
  theoryContraction: number | null;
  cycles: TextCycleRecord[];
  policy: TextPolicy;
  warmStart: TextWarmStart;
}

/**
 * A method's full config for a run: its schema's defaults, then the `common` fields its schema
 * has and does not fix (an ablation's defining field stays as it is), then its own `config`.
 * The result says every value the run uses.
 */
export function methodConfig(method: MethodName, common: CommonConfig = {}, own: Record<string, unknown> = {}): Record<string, unknown> {
  const setting = METHODS[method].text;
  if (!setting) throw new InputError("method", `${method} has no text setting`);
  const base = parseConfig(setting.config, {}, method) as Record<string, unknown>;
  const input: Record<string, unknown> = {};
  const open = (field: string) => field in base && !setting.fixed?.includes(field);
  if (common.beta !== undefined && open("beta")) input.beta = common.beta;
  if (common.nllWeight !== undefined && open("nllWeight")) input.nllWeight = common.nllWeight;
  if (common.optimisation && open("optimisation")) input.optimisation = { ...common.optimisation };
  for (const [k, v] of Object.entries(own)) {
    input[k] = k === "optimisation" && typeof v === "object" && v !== null ? { ...(input.optimisation as object), ...v } : v;
  }
  return parseConfig(setting.config, input, method) as Record<string, unknown>;
}

/**
 * Checks a run's method, config and β before anything is trained, and returns the full config.
 * β ≤ ½ is refused unless `allowDivergence` (the StepAgent cycle does not converge there).
 */
export function checkTextRun(
  method: string,
  common?: CommonConfig,
  own?: Record<string, unknown>,
  allowDivergence = false,
): { method: MethodName; config: Record<string, unknown> } {
  if (!isMethodName(method) || !METHODS[method].text)
    throw new InputError("method", `unknown method ${JSON.stringify(method)} (methods: ${TEXT_METHODS.join(", ")})`);
  const setting = METHODS[method].text!;
  const config = methodConfig(method, common, own);
  if (setting.beta) checkBeta(setting.beta(config), allowDivergence, `${method}.beta`);
  return { method, config };
}

export async function trainText(
  o: TextTrainOptions,
  /**
   * Called after every cycle's record (cycle 0 too) with the policy as it is then, and awaited:
   * a caller can measure the policy per cycle (compare measures it at the agent's own states).
   */
  onCycle?: (r: TextCycleRecord, policy: TextPolicy) => void | Promise<void>,
  onSftStep?: (step: number, total: number, loss: number) => void,
): Promise<TextTrainResult> {
  const family = textEnv(o.env);
  const { method, config } = checkTextRun(o.method, o.common, o.config, o.allowDivergence);
  for (const k of ["trainTasks", "testTasks", "sftSteps", "sftBatchSize", "samplesPerStep"] as const) requireInteger(k, o[k], 1);
  requireInteger("cycles", o.cycles, 0);
  const setting = METHODS[method].text!;
  const { train, test } = splitTasks(family, o.seed, o.trainTasks, o.testTasks);
  const heldOut = expertStates(family, test);
  const expert = train.map((t) => expertTrajectory(family, t));
  const data = expertSteps(expert);
  const key = JSON.stringify([
    family.name,
    o.seed,
    o.trainTasks,
    o.testTasks,
    o.sftSteps,
    o.sftBatchSize,
    o.sftLearningRate,
    o.pretrained?.key ?? o.model ?? {},
    o.initial ? "initial" : "sft",
  ]);
  if (o.pretrained && o.initial) throw new InputError("pretrained", "cannot be combined with initial");
  if (o.warmStart && o.warmStart.key !== key) throw new InputError("warmStart", `was trained with other options (${o.warmStart.key}), this run needs ${key}`);
  const modelConfig = { ...TEXT_MODEL[family.name], ...o.model, seed: o.seed };
  const tokenizer = () =>
    Tokenizer.fit(
      data.flatMap((d) => [d.state, d.action]),
      { maxWords: 400 },
    );
  const builtIn = () => (o.warmStart ? new TransformerPolicy(tokenizer(), modelConfig, o.warmStart.weights) : new TransformerPolicy(tokenizer(), modelConfig));
  const policy: TextPolicy = o.pretrained?.policy ?? o.initial ?? builtIn();
  if (o.pretrained && o.warmStart) o.pretrained.policy.restore(o.warmStart.weights);
  const rng = new Rng(o.seed);
  const cycles: TextCycleRecord[] = [];
  let t0 = performance.now();
  const push = async (r: Omit<TextCycleRecord, "kl" | "klRatio">) => {
    // Exact KL(π_E‖π) at the held-out expert states, from the expert's distribution there
    // (−log π(a_E|s) for the deterministic experts).
    const perState = (await klPerState(policy, heldOut)).kl;
    const kl = perState.reduce((a, b) => a + b, 0) / Math.max(1, perState.length);
    const previous = cycles[cycles.length - 1];
    const full = { ...r, kl, klRatio: previous && previous.kl > 0 ? kl / previous.kl : null };
    cycles.push(full);
    await onCycle?.(full, policy);
  };
  if (o.warmStart) {
    cycles.push(o.warmStart.record);
    await onCycle?.(o.warmStart.record, policy);
  } else {
    // Cycle 0 is the starting policy: SFT on the expert steps, or the given initial policy as is.
    if (!o.initial) {
      const onStep = onSftStep && ((k: number, loss: number) => onSftStep(k + 1, o.sftSteps, loss));
      (await trainSft(policy, data, { steps: o.sftSteps, batchSize: o.sftBatchSize, learningRate: o.sftLearningRate, seed: o.seed, onStep })).trainer.dispose();
    }
    const evaluation = await evaluateText(family, test, policy, { seed: o.seed });
    await push({ cycle: 0, evaluation, pairs: 0, matchRate: null, actions: 0, update: null, seconds: (performance.now() - t0) / 1000 });
  }
  const warmStart: TextWarmStart = o.warmStart ?? {
    key,
    weights: o.pretrained ? await o.pretrained.policy.trainedWeights() : await policy.weights(),
    record: cycles[0],
  };
  // The cycles of a pretrained model start from a restored state whether or not this run trained
  // the warm start, so a method's numbers do not depend on which method of a comparison ran first.
  if (o.pretrained && !o.warmStart) o.pretrained.policy.restore(warmStart.weights);
  for (let k = 1; k <= o.cycles && !setting.warmStartOnly; k++) {
    t0 = performance.now();
    const ctx = {
      family,
      train,
      expert,
      expertSteps: data,
      policy,
      samplesPerStep: o.samplesPerStep,
      actionBudget: o.samplesPerStep * data.length,
      seed: o.seed + k,
      rng: rng.fork(`cycle-${k}`),
    };
    const collected = await setting.collect(ctx, config);
    const update = await setting.update(ctx, collected.data, config);
    const evaluation = await evaluateText(family, test, policy, { seed: o.seed });
    await push({
      cycle: k,
      evaluation,
      pairs: collected.pairs,
      matchRate: collected.matchRate,
      actions: collected.actions,
      update,
      seconds: (performance.now() - t0) / 1000,
    });
    await new Promise<void>((res) => setImmediate(res));
  }
  const theoryContraction = setting.beta ? contractionFactor(setting.beta(config)) : null;
  return { env: family.name, method, seed: o.seed, config, theoryContraction, cycles, policy, warmStart };
}
