/**
 * Baseline: policy gradient with the outcome reward only (PPO-clip). No expert data after the
 * warm start.
 *
 *   collect  roll the agent out on the training tasks (temperature 1) until the cycle's action
 *            budget is spent; every step t of episode e has the return R_e, the episode's outcome
 *            reward (undiscounted: there is no reward before the end). A value function V(s), ridge
 *            regression of the return on the state's hashed words, is cross-fitted across episodes
 *            (episode e in fold e mod K, V for its steps fit on the other folds' episodes, so it
 *            never sees R_e and the baseline leaves the gradient unbiased); A = R_e − V(s_t),
 *            normalised to mean 0 and standard deviation 1 over the batch. When every episode
 *            has the same return there is no signal: A ≡ 0
 *   update   max_θ  E[ Σ_t min(ρ_t A, clip(ρ_t, 1 ± ε)A) ] − β E[ KL_tok(π_θ‖π_k; s, a) ],  ρ_t = π_θ/π_k per
 *            token (clipPer), KL_tok the exact per-token KL along the sampled action
 *            (the same PPO update as stepagent-inverse, without its anchor); skipped when every
 *            advantage is 0, which carries no signal and would only shrink towards π_k
 *
 * Tabular: n·episodes roll-outs of H steps (the agent actions of StepAgent's sampled inspection);
 * every step gets its episode's advantage A = G − mean G; the same surrogate and KL penalty on the
 * per-(s, a) visit sums, full-batch Adam. It optimises return, not imitation, so its KL to the
 * expert need not fall.
 */
import { z } from "zod";
import { tf } from "../backend";
import { minimiseAdam } from "../optim/adam";
import { TabularPolicyVariable } from "../policies/tabular_tf";
import { defaultEpisodes } from "./tabular/inspect";
import { adamSchema, betaSchema, defineMethod, optimisationSchema } from "./protocol";
import { crossFitRidge, stateFeatures } from "./text/features";
import { rollOutBudget } from "./text/rollout";
import { clipPerSchema, ppoUpdate } from "./stepagent_inverse";
import type { StateAction } from "../core/types";

export const ppoOutcomeConfig = z
  .object({
    /** β: the KL-penalty coefficient to π_k. */
    beta: betaSchema,
    /** ε: the PPO clip range of ρ. */
    clip: z.number().positive().default(0.2),
    clipPer: clipPerSchema,
    /** τ: sampling temperature of the roll-outs. */
    temperature: z.number().min(0).default(1),
    /** The value baseline V(s): ridge regression of the return on the state's hashed words. */
    value: z
      .object({
        /**
         * λ: ℓ₂ penalty on the word weights (the intercept is unpenalised). A return is shared by
         * all of an episode's steps, so V learns from few independent values and overfits when λ
         * is small: on recipe (33–34 episodes, seeds 0 and 1) Var(R − V) / Var(R − mean R) = 2.0,
         * 2.2 at λ = 1; 1.06, 1.03 at λ = 100; 1.08, 1.01 at λ = 1000. Those returns are not
         * predictable from the state's words, so there V only costs a little variance.
         */
        ridge: z.number().positive().default(100),
        /** K: cross-fitting folds over episodes (episode e in fold e mod K). */
        folds: z.number().int().min(2).default(2),
      })
      .strict()
      .default({}),
    optimisation: optimisationSchema.default({}),
  })
  .strict();
export type PpoOutcomeConfig = z.infer<typeof ppoOutcomeConfig>;

/**
 * Outcome advantages of steps (state s_t, return R of its episode): V cross-fitted by episode,
 * `raw` = R − V(s_t), and `advantages` = raw normalised to mean 0, standard deviation 1 (all 0 when
 * every return is the same, or when raw has no spread).
 */
export function outcomeAdvantages(
  states: string[],
  returns: number[],
  episodes: number[],
  value: { ridge: number; folds: number },
): { values: number[]; raw: number[]; advantages: number[] } {
  const values = crossFitRidge(
    states.map(stateFeatures),
    returns,
    episodes.map((e) => e % value.folds),
    value.folds,
    value.ridge,
  );
  const raw = returns.map((r, i) => r - values[i]);
  const m = raw.length;
  const mean = raw.reduce((a, b) => a + b, 0) / Math.max(1, m);
  const std = Math.sqrt(raw.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, m));
  const signal = returns.some((r) => r !== returns[0]) && std > 0;
  return { values, raw, advantages: raw.map((x) => (signal ? (x - mean) / std : 0)) };
}

export const ppoOutcomeTabularConfig = z
  .object({
    /** β: the KL-penalty coefficient to π_k (outcome PPO is not a StepAgent cycle; the theory's β > ½ does not apply). */
    beta: z.number().positive().default(0.1),
    /** ε: the PPO clip range of ρ. */
    clip: z.number().positive().default(0.2),
    /** Roll-outs per cycle are n × episodes (null: ⌈400·S/H⌉, as StepAgent's sampled inspection). */
    episodes: z.number().int().min(1).nullable().default(null),
    /** n: as StepAgent's proposals per expert step. */
    samplesPerStep: z.number().int().min(1).default(8),
    /** Full-batch Adam. */
    adam: adamSchema,
  })
  .strict();
export type PpoOutcomeTabularConfig = z.infer<typeof ppoOutcomeTabularConfig>;

export const ppoOutcome = defineMethod({
  name: "ppo-outcome",
  summary: "baseline: PPO-clip with the episode's outcome reward and a KL penalty to π_k, no expert data",
  text: {
    config: ppoOutcomeConfig,
    beta: (c) => c.beta,
    async collect(ctx, c) {
      const { runs, actions } = await rollOutBudget(ctx.family, ctx.train, ctx.policy, ctx.actionBudget, ctx.rng, c.temperature);
      const samples: StateAction[] = runs.flatMap((r) => r.steps);
      const { advantages } = outcomeAdvantages(
        samples.map((s) => s.state),
        runs.flatMap((r) => r.steps.map(() => r.reward)),
        runs.flatMap((r, e) => r.steps.map(() => e)),
        c.value,
      );
      return { data: { samples, advantages }, actions, pairs: 0, matchRate: null };
    },
    async update(ctx, d, c) {
      if (!d.advantages.some((a) => a !== 0)) return { steps: 0, examples: 0 };
      const { steps, examples } = await ppoUpdate(ctx.policy, d.samples, d.advantages, {
        beta: c.beta,
        clip: c.clip,
        clipPer: c.clipPer,
        nllWeight: 0,
        optimisation: c.optimisation,
        seed: ctx.seed,
      });
      return { steps, examples };
    },
  },
  tabular: {
    config: ppoOutcomeTabularConfig,
    async collect(ctx, c) {
      const { mdp, policy } = ctx;
      const { numStates: S, numActions: A, horizon: H } = mdp;
      const episodes = c.episodes ?? defaultEpisodes(mdp);
      const samplesPerStep = c.samplesPerStep;
      const roll = ctx.rng.fork("rollouts");
      const rollouts = samplesPerStep * episodes;
      const states = new Int32Array(rollouts * H);
      const actions = new Int32Array(rollouts * H);
      const returns = new Float64Array(rollouts);
      for (let e = 0; e < rollouts; e++) {
        let s = mdp.reset(roll);
        for (let t = 0; t < H; t++) {
          const a = policy.sample(s, roll);
          states[e * H + t] = s;
          actions[e * H + t] = a;
          const r = mdp.step(a);
          returns[e] += r.reward;
          s = r.observation;
        }
      }
      const baseline = returns.reduce((x, y) => x + y, 0) / rollouts;
      // Aggregate per (s, a): visit mass q and summed advantage; per state: visit mass w.
      const q = new Float64Array(S * A);
      const adv = new Float64Array(S * A);
      const w = new Float64Array(S);
      for (let i = 0; i < rollouts * H; i++) {
        const idx = states[i] * A + actions[i];
        q[idx] += 1 / (rollouts * H);
        adv[idx] += (returns[Math.floor(i / H)] - baseline) / (rollouts * H);
        w[states[i]] += 1 / (rollouts * H);
      }
      // Mean advantage of (s, a) visits, so that q·min(ρÂ, clip(ρ)Â) is the per-sample PPO objective summed.
      for (let i = 0; i < S * A; i++) if (q[i] > 0) adv[i] /= q[i];
      return { data: { q, adv, w }, actions: rollouts * H, pairs: 0, matchRate: null, expertSteps: 0, agentSamples: rollouts * H };
    },
    async update(ctx, { q, adv, w }, c) {
      const { policy } = ctx;
      const { numStates: S, numActions: A } = ctx.mdp;
      const { beta, clip } = c;
      const theta = new TabularPolicyVariable(policy);
      const t = tf.tidy(() => ({
        ref: tf.tensor2d(Float32Array.from(policy.logProbs), [S, A]),
        q: tf.tensor2d(Float32Array.from(q), [S, A]),
        adv: tf.tensor2d(Float32Array.from(adv), [S, A]),
        w: tf.tensor2d(Float32Array.from(w), [S, 1]),
      }));
      try {
        const res = await minimiseAdam(
          () =>
            tf.tidy(() => {
              const lp = theta.logProbTable();
              const ratio = tf.exp(tf.sub(lp, t.ref));
              const surrogate = tf.sum(tf.mul(t.q, tf.minimum(tf.mul(ratio, t.adv), tf.mul(tf.clipByValue(ratio, 1 - clip, 1 + clip), t.adv))));
              const kl = tf.sum(tf.mul(t.w, tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, t.ref)), 1, true)));
              return tf.neg(tf.sub(surrogate, tf.mul(beta, kl))) as tf.Scalar;
            }),
          [theta.logits],
          c.adam,
        );
        return {
          policy: await theta.toPolicy(),
          update: null,
          diagnostics: { solver: "tfjs", residual: res.finalLoss, converged: null, iterations: res.steps },
        };
      } finally {
        theta.dispose();
        tf.dispose(Object.values(t));
      }
    },
  },
});
