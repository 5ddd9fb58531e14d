/**
 * StepAgent with inverse-RL reflection: inspect the agent at the expert's states, learn a step
 * reward that tells the expert's actions from the agent's, and follow it with a KL-regularised
 * policy gradient.
 *
 *   collect  n proposals â ~ π_k(·|s) at each expert step (as the implicit reflection); then
 *            logistic discriminators D(s, a) = σ(wᵀφ(s, a) + b) on hashed features φ (the action's
 *            words, action-word × state-word pairs), expert steps label 1, proposals label 0,
 *            classes weighted equally, L2 ℓ₂; step reward r(s, a) = log D − log(1 − D) = wᵀφ + b.
 *            Cross-fitted: expert step i and its proposals are in fold i mod K, and fold f's
 *            proposals are scored by a discriminator fit without them, but with every expert step
 *            (heldOut "proposals"; "steps" leaves fold f's expert steps out too)
 *   advantage A(s, â) = r(s, â) − b(s), the baseline b free of â's own action: with n ≥ 2 the
 *            mean reward of the other proposals at s in the same fold (leave-one-out), with n = 1
 *            a ridge regression of the reward on the state's words, cross-fitted inside the fold.
 *            Kept in nats (advantageScale "reward") or scaled to root-mean-square β ("rms-beta");
 *            A ≡ 0 with the step signal off (the anchor-only ablation)
 *   update   max_θ  E_â[ Σ_t min(ρ_t A, clip(ρ_t, 1 ± ε)A) ] − β E_â[ KL_tok(π_θ‖π_k; s, â) ] − λ E_â[ −log π_θ(a_E|s) ],
 *            ρ_t = π_θ(â_t|s, â_<t)/π_k(â_t|s, â_<t) per token (clipPer "token"; "sequence": one
 *            ρ = π_θ(â|s)/π_k(â|s)), KL_tok the exact KL summed over â's tokens (see `ppoUpdate`),
 *            Adam on the shared budget
 *
 * Tabular: the exact discriminator and KL-regularised update of `tabular/inverse.ts`.
 */
import { z } from "zod";
import { tf } from "../backend";
import type { StateAction } from "../core/types";
import { AdamTrainer, minibatchSteps, type UpdateCount } from "../optim/adam";
import type { TextPolicy, TokenDistributions } from "../policies/text_policy";
import { betaSchema, defineMethod, nllWeightSchema, optimisationSchema, type Optimisation } from "./protocol";
import { crossFitRidge, FEATURE_DIM, hashFeature, stateFeatures, words } from "./text/features";
import { inspectText } from "./text/inspect";
import { tabularStepAgent, tabularStepAgentFields } from "./tabular/inspect";
import { reflectInverse } from "./tabular/inverse";

/** Hashed sparse features of (state, action): action words, and action word × state word pairs. */
export function stepFeatures(state: string, action: string): number[] {
  const aw = words(action);
  const sw = new Set(words(state));
  const f = new Set<number>();
  for (const a of aw) {
    f.add(hashFeature(`a:${a}`));
    for (const s of sw) f.add(hashFeature(`x:${a}|${s}`));
  }
  return [...f];
}

export class StepDiscriminator {
  readonly weights = new Float64Array(FEATURE_DIM);
  bias = 0;

  /** r(s, a) = log D − log(1 − D): the logit. */
  reward(state: string, action: string): number {
    let z = this.bias;
    for (const i of stepFeatures(state, action)) z += this.weights[i];
    return z;
  }

  /**
   * Full-batch gradient descent on the class-balanced logistic loss with L2 (sparse features, so
   * a plain Float64Array loop; the reward model is separate from the policy, as in imitation).
   */
  fit(expert: StateAction[], agent: StateAction[], options: { epochs: number; learningRate: number; l2: number }): number {
    const data = [
      ...expert.map((e) => ({ f: stepFeatures(e.state, e.action), y: 1, w: 0.5 / expert.length })),
      ...agent.map((e) => ({ f: stepFeatures(e.state, e.action), y: 0, w: 0.5 / Math.max(1, agent.length) })),
    ];
    const lr = options.learningRate;
    const l2 = options.l2;
    let loss = 0;
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const grad = new Map<number, number>();
      let gb = 0;
      loss = 0;
      for (const { f, y, w } of data) {
        let z = this.bias;
        for (const i of f) z += this.weights[i];
        const p = 1 / (1 + Math.exp(-z));
        loss += w * (y ? -Math.log(Math.max(p, 1e-12)) : -Math.log(Math.max(1 - p, 1e-12)));
        const g = w * (p - y);
        gb += g;
        for (const i of f) grad.set(i, (grad.get(i) ?? 0) + g);
      }
      this.bias -= lr * gb;
      for (const [i, g] of grad) this.weights[i] -= lr * (g + l2 * this.weights[i]);
    }
    return loss;
  }
}

/**
 * Where PPO clips ρ. "token": each scored token t has its own ratio ρ_t = π_θ(â_t|s, â_<t)/π_k(…)
 * and the surrogate is Σ_t min(ρ_t A, clip(ρ_t, 1 ± ε) A) (the same gradient as the sequence
 * objective at θ = π_k), so no single token's probability moves more than ε through one sample.
 * "sequence": one ratio ρ = Π_t ρ_t per action. With sequence ratios a wrong action that begins
 * with the expert's tokens ("collect go shelf", expert "collect") is pushed down through all of
 * its tokens until ρ reaches 1 − ε, and the shared first token with it: measured on recipe (seed 2,
 * 24 tasks, n = 2), mean log π(collect) at the training states where the expert collects went
 * −0.51 → −2.37 in one update with sequence ratios, −0.51 → −0.35 with token ratios.
 */
export const clipPerSchema = z.enum(["token", "sequence"]).default("token");
export type ClipPer = z.infer<typeof clipPerSchema>;

export const stepagentInverseConfig = z
  .object({
    /** β: the KL-penalty coefficient to π_k (the cycle converges for β > ½), and the advantages' RMS with advantageScale "rms-beta". */
    beta: betaSchema,
    /**
     * λ: weight of the NLL of the expert's action at each sampled state. Without it, pushing a
     * wrong action's tokens down also pushes down the prefix it shares with the expert's ("go to
     * cabinet 3" vs "go to cabinet 2"): measured at β = 0.1 and unscaled advantages, held-out KL
     * to the expert 0.66 → 1.34 after one cycle with λ = 0, and 0 successes.
     */
    nllWeight: nllWeightSchema,
    /** ε: the PPO clip range of ρ. */
    clip: z.number().positive().default(0.2),
    clipPer: clipPerSchema,
    /** false: every advantage is 0, so only the KL term and the NLL anchor act (an ablation). */
    stepSignal: z.boolean().default(true),
    /** τ: sampling temperature of the proposals. */
    temperature: z.number().min(0).default(1),
    discriminator: z
      .object({
        /** Full-batch gradient steps. */
        epochs: z.number().int().min(0).default(200),
        learningRate: z.number().positive().default(2),
        /** ℓ₂ on the weights. */
        l2: z.number().min(0).default(1e-4),
        /**
         * K: cross-fitting folds. Expert step i is in fold i mod K, its proposals with it; fold f's
         * proposals are scored by a discriminator fit on the other folds only, so no proposal's
         * reward comes from a fit that saw it (an in-sample fit labels the proposal 0 and lowers
         * its own reward). K discriminators, each on (K − 1)/K of the data.
         */
        folds: z.number().int().min(2).default(2),
        /**
         * What fold f's discriminator does not see: "proposals", fold f's proposals only (every
         * discriminator sees every expert step, so the one that scores a proposal knows the
         * expert's action at its state — the step-level comparison inspection exists for; the
         * state-level offset this gives fold f's states is what the per-state baseline removes);
         * "steps", fold f's expert steps too, so a proposal is judged only by how expert-like it
         * looks from other states.
         */
        heldOut: z.enum(["steps", "proposals"]).default("proposals"),
      })
      .strict()
      .default({}),
    /**
     * The state baseline with one proposal per state: ridge regression of the reward on the
     * state's hashed words; λ its ℓ₂ penalty (the intercept is unpenalised). Measured on recipe
     * (30 tasks, SFT 120 steps, 304–328 proposals, seeds 0 and 1), Var(r − b) over Var(r) (what
     * one mean over all proposals would leave): 0.75, 0.72 at λ = 1; 0.62, 0.65 at λ = 10; 0.66,
     * 0.67 at λ = 100; 0.83, 0.81 at λ = 10⁵ (nearly a per-fold mean: each fold's discriminator
     * has its own offset).
     */
    baseline: z
      .object({ ridge: z.number().positive().default(10) })
      .strict()
      .default({}),
    /**
     * "reward": A = r − b in nats as the discriminator gives them, β acting only through the KL
     * term; "rms-beta": A scaled to root-mean-square β (each sample's gradient weight then matches
     * step-DPO's, whose gradient on a pair is β·σ(−β·margin) ≤ β). The logits have no fixed scale
     * (they can be tens of nats); at β = 0.1 with an in-sample discriminator and a mean baseline,
     * unscaled advantages raised held-out KL to the expert 0.66 → 0.96 in a cycle.
     */
    advantageScale: z.enum(["reward", "rms-beta"]).default("rms-beta"),
    optimisation: optimisationSchema.default({}),
  })
  .strict();
export type StepagentInverseConfig = z.infer<typeof stepagentInverseConfig>;

/** What `ppoUpdate` needs: β for the KL penalty, λ for the anchor, ε, the budget, the seed. */
export interface PpoOptions {
  beta: number;
  nllWeight: number;
  clip: number;
  /** Where ρ is clipped: per token (default) or on the whole action's ratio. */
  clipPer?: ClipPer;
  optimisation: Optimisation;
  seed: number;
}

/** The cross-fitted step rewards of an inspection's proposals, their baselines and advantages. */
export interface StepAdvantages {
  /** discriminators[f]: fit on every fold but f (on every fold's expert steps with heldOut "proposals"); it scores fold f's proposals. */
  discriminators: StepDiscriminator[];
  /** Each proposal's fold: i mod K for the proposals of expert step i. */
  folds: number[];
  /** r(s, â) under the discriminator of the proposal's fold. */
  rewards: number[];
  /** b: the baseline subtracted from each reward. */
  baselines: number[];
  /** A: r − b, scaled as `advantageScale` says (0 with the step signal off). */
  advantages: number[];
}

/**
 * Cross-fitted discriminators, the rewards of the proposals under them, baselines and advantages.
 * Proposals are n per expert step, in the expert's order (as `inspectText` returns them).
 *
 * Baselines never depend on the proposal's own action, so E_â[∇log π(â|s)·b] = b·∇Σ_â π(â|s) = 0
 * and subtracting them leaves the policy gradient unbiased (they only lower its variance). The
 * reward of a fold-f proposal comes from a discriminator fit on the other folds, so it depends on
 * their actions but on none of fold f's; hence both baselines use fold f's rewards only:
 *   n ≥ 2  leave-one-out: b = the mean reward of the other proposals at the same state in the same fold;
 *   n = 1  learned: ridge regression of the reward on the state's hashed words (no action), fit on
 *          fold f's other sub-folds (expert step i is in sub-fold ⌊i/K⌋ mod K) and predicted for
 *          this one. The other folds' rewards are not used: their discriminator saw this action.
 */
export function stepAdvantages(expert: StateAction[], proposals: StateAction[], c: StepagentInverseConfig): StepAdvantages {
  if (proposals.length === 0) return { discriminators: [], folds: [], rewards: [], baselines: [], advantages: [] };
  const n = proposalsPerStep(expert, proposals, "stepAdvantages");
  const K = c.discriminator.folds;
  const step = proposals.map((_, j) => Math.floor(j / n));
  const folds = step.map((i) => i % K);
  const discriminators = Array.from({ length: K }, (_, f) => {
    const d = new StepDiscriminator();
    d.fit(
      c.discriminator.heldOut === "steps" ? expert.filter((_, i) => i % K !== f) : expert,
      proposals.filter((_, j) => folds[j] !== f),
      c.discriminator,
    );
    return d;
  });
  const rewards = proposals.map((p, j) => discriminators[folds[j]].reward(p.state, p.action));
  let baselines: number[];
  if (n >= 2) {
    const key = (j: number) => `${folds[j]}\u0000${proposals[j].state}`;
    const groups = new Map<string, number[]>();
    proposals.forEach((_, j) => groups.set(key(j), [...(groups.get(key(j)) ?? []), j]));
    // Summed over the others (not the group's sum minus r_j), so b_j is bit-for-bit free of r_j.
    baselines = proposals.map((_, j) => {
      const others = groups.get(key(j))!.filter((k) => k !== j);
      return others.reduce((a, k) => a + rewards[k], 0) / others.length;
    });
  } else {
    baselines = new Array<number>(proposals.length).fill(0);
    for (let f = 0; f < K; f++) {
      const idx = proposals.map((_, j) => j).filter((j) => folds[j] === f);
      const predicted = crossFitRidge(
        idx.map((j) => stateFeatures(proposals[j].state)),
        idx.map((j) => rewards[j]),
        idx.map((j) => Math.floor(step[j] / K) % K),
        K,
        c.baseline.ridge,
      );
      idx.forEach((j, k) => (baselines[j] = predicted[k]));
    }
  }
  const raw = rewards.map((r, j) => r - baselines[j]);
  const rms = Math.sqrt(raw.reduce((a, x) => a + x * x, 0) / raw.length);
  const advantages = raw.map((x) => {
    if (!c.stepSignal) return 0;
    if (c.advantageScale === "reward") return x;
    return rms > 0 ? (c.beta * x) / rms : 0;
  });
  return { discriminators, folds, rewards, baselines, advantages };
}

/** n, when the proposals are n per expert step in the expert's order (as `inspectText` returns them); else throws. */
function proposalsPerStep(expert: StateAction[], proposals: StateAction[], who: string): number {
  const n = proposals.length / expert.length;
  if (!Number.isInteger(n) || n < 1 || proposals.some((p, i) => p.state !== expert[Math.floor(i / n)].state))
    throw new Error(`${who}: the proposals must be n per expert step, in the expert's order (as inspectText returns them)`);
  return n;
}

/**
 * The expert's action at each proposal's state: the NLL anchor of the update. Proposals come n per
 * expert step in the expert's order (as `inspectText` returns them), so proposal i is anchored on
 * expert step ⌊i/n⌋: a state that occurs at several expert steps with different expert actions (a
 * stochastic expert, or two tasks that look alike) keeps every one of them.
 */
export function expertAnchor(expert: StateAction[], proposals: StateAction[]): StateAction[] {
  if (proposals.length === 0) return [];
  const n = proposalsPerStep(expert, proposals, "expertAnchor");
  return proposals.map((p, i) => ({ state: p.state, action: expert[Math.floor(i / n)].action }));
}

/**
 * PPO-clip on sampled (state, action) steps with given advantages, ratios per token ρ_t (or one
 * ρ = π_θ(â|s)/π_k(â|s) per action with clipPer "sequence"; π_k frozen at the start), and the penalty β·KL(π_θ‖π_k) computed exactly per token from the
 * two policies' full next-token distributions along each sampled action (teacher-forced on the
 * sample, over the tokens log π(â|s) sums):
 *
 *   KL_i = Σ_t Σ_v π_θ(v|s_i, â_i,<t) [log π_θ(v|s_i, â_i,<t) − log π_k(v|s_i, â_i,<t)],  penalty β·mean_i KL_i
 *
 * Exact, not a sample estimate: each token's term is ≥ 0 and least at π_θ = π_k, so epochs on a fixed sample cannot game it.
 *
 * π_k is `policy.snapshot()`: a copy of the trainable weights (for a LoRA model the adapters
 * only; the frozen base is shared). It is run on each minibatch inside the step's scope, so its
 * log-softmax lives only as long as that step: memory is a few float32 tensors of b × T × V per
 * step (b the batch, T the longest action in tokens + 1, V the vocabulary; ≈ 0.1 GB each for
 * GPT-2 at 16 × 33), never N × T × V for all N samples. ρ's π_k(â|s) comes from the same pass.
 */
export async function ppoUpdate(
  policy: TextPolicy,
  samples: StateAction[],
  advantages: number[],
  options: PpoOptions,
  anchor?: StateAction[],
): Promise<UpdateCount & { losses: number[] }> {
  if (samples.length === 0) return { steps: 0, examples: 0, losses: [] };
  const clip = options.clip;
  const reference = await policy.snapshot();
  let trainer: AdamTrainer | undefined;
  try {
    trainer = new AdamTrainer(policy.trainable(), options.optimisation.learningRate);
    return await minibatchSteps(trainer, samples.length, { ...options.optimisation, seed: options.seed, stream: "ppo-batches" }, (idx) => {
      const states = idx.map((i) => samples[i].state);
      const actions = idx.map((i) => samples[i].action);
      const current = policy.nextTokenLogProbs(states, actions);
      const frozen = reference.nextTokenLogProbs(states, actions);
      const { kl, logRatio, tokenLogRatio } = klAndLogRatio(current, frozen);
      const a = tf.tensor1d(Float32Array.from(idx, (i) => advantages[i]));
      const clipped = (ratio: tf.Tensor, adv: tf.Tensor) => tf.minimum(tf.mul(ratio, adv), tf.mul(tf.clipByValue(ratio, 1 - clip, 1 + clip), adv));
      const surrogate =
        options.clipPer === "sequence"
          ? tf.mean(clipped(tf.exp(logRatio), a))
          : tf.mean(tf.sum(tf.mul(clipped(tf.exp(tokenLogRatio), tf.expandDims(a, 1)), current.mask), 1));
      const loss = tf.neg(tf.sub(surrogate, tf.mul(options.beta, tf.mean(kl)))) as tf.Scalar;
      if (!anchor || !options.nllWeight) return loss;
      const nll = tf.neg(
        tf.mean(
          policy.sequenceLogProb(
            idx.map((i) => anchor[i].state),
            idx.map((i) => anchor[i].action),
          ),
        ),
      );
      return tf.add(loss, tf.mul(options.nllWeight, nll)) as tf.Scalar;
    });
  } finally {
    trainer?.dispose();
    reference.dispose();
  }
}

/**
 * Σ_v p_v (log p_v − log q_v) over the last axis, for a log-softmax log p (p = exp log p) and
 * log q. Its gradient is taken as Σ_v p_v (log p_v − log q_v) ∂log p_v, which is exact: autodiff
 * adds Σ_v p_v ∂log p_v = ∂Σ_v p_v = 0, whose float rounding alone would move θ at p = q, where
 * this gradient is exactly 0. None reaches log q.
 */
const tokenKl = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [logp, logq, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  const p = tf.exp(logp);
  const d = tf.sub(logp, logq);
  save([p, d]);
  return {
    value: tf.sum(tf.mul(p, d), -1),
    gradFunc: (dy: tf.Tensor, [ps, ds]: tf.Tensor[]) => [tf.mul(tf.expandDims(dy, -1), tf.mul(ps, ds)), tf.zerosLike(ds)],
  };
});

/**
 * Per pair, from the next-token distributions of π_θ (`current`) and π_k (`frozen`) along the same
 * actions: the exact KL(π_θ‖π_k) summed over the scored tokens, and log π_θ(a|s) − log π_k(a|s)
 * (both [B]); and that log-ratio per scored token ([B, T], 0 where masked). No gradient flows into `frozen`: its tensors come from the snapshot's own weights.
 */
export function klAndLogRatio(current: TokenDistributions, frozen: TokenDistributions): { kl: tf.Tensor1D; logRatio: tf.Tensor1D; tokenLogRatio: tf.Tensor2D } {
  const [B, T, V] = current.logProbs.shape;
  if (frozen.logProbs.shape.join() !== current.logProbs.shape.join() || frozen.targets.some((t, i) => t !== current.targets[i]))
    throw new Error("klAndLogRatio: the two policies' distributions are not over the same scored tokens");
  const kl = tf.sum(tf.mul(tokenKl(current.logProbs, frozen.logProbs), current.mask), 1) as tf.Tensor1D;
  const flat = tf.tensor1d(
    Int32Array.from(current.targets, (t, i) => i * V + t),
    "int32",
  );
  const at = (d: TokenDistributions) => tf.reshape(tf.gather(tf.reshape(d.logProbs, [-1]), flat), [B, T]);
  const tokenLogRatio = tf.mul(tf.sub(at(current), at(frozen)), current.mask) as tf.Tensor2D;
  return { kl, logRatio: tf.sum(tokenLogRatio, 1) as tf.Tensor1D, tokenLogRatio };
}

interface InverseData {
  proposals: StateAction[];
  advantages: number[];
  anchor: StateAction[];
}

/** The tabular setting's config; null defaults depend on the mode, as documented per field. */
export const stepagentInverseTabularConfig = z
  .object({
    ...tabularStepAgentFields,
    /** ℓ₂ on the discriminator's logits (null: 0 exact, which the closed form needs; 1e-3 sampled). */
    discriminatorL2: z.number().min(0).nullable().default(null),
    /** ε: PPO clip of the ratio (tfjs solver only; null: no clipping, the theory's objective). */
    clip: z.number().positive().nullable().default(null),
  })
  .strict();
export type StepagentInverseTabularConfig = z.infer<typeof stepagentInverseTabularConfig>;

export const stepagentInverse = defineMethod({
  name: "stepagent-inverse",
  summary: "StepAgent: inspection, a step discriminator's reward, then PPO-clip with a KL penalty to π_k (+ λ·NLL anchor)",
  text: {
    config: stepagentInverseConfig,
    beta: (c) => c.beta,
    async collect(ctx, c) {
      const ins = await inspectText(ctx.policy, ctx.expertSteps, { samplesPerStep: ctx.samplesPerStep, temperature: c.temperature, rng: ctx.rng });
      const { advantages } = stepAdvantages(ctx.expertSteps, ins.samples, c);
      const data: InverseData = { proposals: ins.samples, advantages, anchor: expertAnchor(ctx.expertSteps, ins.samples) };
      return { data, actions: ins.proposals, pairs: ins.pairs.length, matchRate: ins.matchRate };
    },
    async update(ctx, d, c) {
      const { steps, examples } = await ppoUpdate(ctx.policy, d.proposals, d.advantages, { ...c, seed: ctx.seed }, d.anchor);
      return { steps, examples };
    },
  },
  tabular: tabularStepAgent(stepagentInverseTabularConfig, (policy, inspection, c, exact, solver) =>
    reflectInverse(policy, inspection, {
      beta: c.beta,
      solver,
      discriminatorL2: c.discriminatorL2 ?? (exact ? 0 : 1e-3),
      clip: c.clip ?? undefined,
      adam: c.adam,
    }),
  ),
});

/** Ablation: the step signal off (every advantage 0), so only the KL term and the NLL anchor act. */
export const stepagentAnchorOnly = defineMethod({
  name: "stepagent-anchor-only",
  summary: "ablation of stepagent-inverse: advantages set to 0, only the KL penalty and the λ·NLL anchor act",
  text: { ...stepagentInverse.text!, config: stepagentInverseConfig.extend({ stepSignal: z.boolean().default(false) }), fixed: ["stepSignal"] },
});

/** Ablation: the NLL anchor off (λ = 0), so only the step signal and the KL term act. */
export const stepagentNoAnchor = defineMethod({
  name: "stepagent-no-anchor",
  summary: "ablation of stepagent-inverse: λ = 0, only the step reward and the KL penalty act",
  text: { ...stepagentInverse.text!, config: stepagentInverseConfig.extend({ nllWeight: z.number().min(0).default(0) }), fixed: ["nllWeight"] },
});
