/**
 * Inverse-RL reflection for a sequence policy (DESIGN.md step 2b):
 * 1. Reward model: a logistic discriminator D(s, a) = σ(wᵀφ(s, a) + b) on hashed features φ
 *    (the action's words, and action-word × state-word pairs) trained on expert steps (label 1)
 *    against the agent's proposals at the same states (label 0), classes weighted equally;
 *    step reward r(s, a) = log D − log(1 − D) = wᵀφ + b.
 * 2. Policy update: PPO-clip on the proposals with per-step advantages A = r(s, â) − mean_s r
 *    (the mean over the proposals at that state), ratio π_θ/π_k, and a KL(π_θ‖π_k) penalty
 *    estimated on the same samples.
 */
import { tf } from "../../backend";
import { AdamTrainer, minibatchSteps } from "../../optim/adam";
import type { StateAction } from "../../policies/text_sft";
import type { TransformerPolicy } from "../../policies/transformer";

const DIM = 1 << 14;

function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+|\d+/g) ?? [];
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0) % DIM;
}

/** Hashed sparse features of (state, action): action words, and action word × state word pairs. */
export function stepFeatures(state: string, action: string): number[] {
  const aw = words(action);
  const sw = new Set(words(state));
  const f = new Set<number>();
  for (const a of aw) {
    f.add(hash(`a:${a}`));
    for (const s of sw) f.add(hash(`x:${a}|${s}`));
  }
  return [...f];
}

export class StepDiscriminator {
  readonly weights = new Float64Array(DIM);
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
  fit(expert: StateAction[], agent: StateAction[], options: { epochs?: number; learningRate?: number; l2?: number } = {}): number {
    const data = [...expert.map((e) => ({ f: stepFeatures(e.state, e.action), y: 1, w: 0.5 / expert.length })), ...agent.map((e) => ({ f: stepFeatures(e.state, e.action), y: 0, w: 0.5 / Math.max(1, agent.length) }))];
    const lr = options.learningRate ?? 2;
    const l2 = options.l2 ?? 1e-4;
    let loss = 0;
    for (let epoch = 0; epoch < (options.epochs ?? 200); epoch++) {
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

export interface TextInverseOptions {
  /** KL penalty β to π_k. */
  beta: number;
  clip?: number;
  steps: number;
  batchSize?: number;
  learningRate?: number;
  seed: number;
}

/** Trains the discriminator on the inspection, then PPO-clip with the learned step reward. */
export function reflectInverseText(policy: TransformerPolicy, expert: StateAction[], proposals: StateAction[], options: TextInverseOptions): { discriminator: StepDiscriminator; losses: number[] } {
  const disc = new StepDiscriminator();
  disc.fit(expert, proposals);
  if (proposals.length === 0) return { discriminator: disc, losses: [] };
  // Per-step advantages: reward minus the mean reward of the proposals at the same state.
  const rewards = proposals.map((p) => disc.reward(p.state, p.action));
  const byState = new Map<string, number[]>();
  proposals.forEach((p, i) => byState.set(p.state, [...(byState.get(p.state) ?? []), rewards[i]]));
  const adv = proposals.map((p, i) => {
    const rs = byState.get(p.state)!;
    return rewards[i] - rs.reduce((a, b) => a + b, 0) / rs.length;
  });
  return { discriminator: disc, losses: ppoUpdate(policy, proposals, adv, options) };
}

/**
 * PPO-clip on sampled (state, action) steps with given advantages, ratio π_θ/π_k (π_k frozen at
 * the start), and a KL(π_θ‖π_k) penalty estimated on the same samples, E_k[ρ log ρ].
 */
export function ppoUpdate(policy: TransformerPolicy, samples: StateAction[], advantages: number[], options: TextInverseOptions): number[] {
  if (samples.length === 0) return [];
  const refLogp = policy.logProbs(samples.map((p) => p.state), samples.map((p) => p.action));
  const clip = options.clip ?? 0.2;
  const trainer = new AdamTrainer(policy.trainable(), options.learningRate ?? 1e-3);
  try {
    return minibatchSteps(trainer, samples.length, { steps: options.steps, batchSize: options.batchSize ?? 16, seed: options.seed, stream: "ppo-batches" }, (idx) => {
      const logp = policy.sequenceLogProb(policy.encode(idx.map((i) => samples[i].state), idx.map((i) => samples[i].action)));
      const logRatio = tf.sub(logp, tf.tensor1d(Float32Array.from(idx, (i) => refLogp[i])));
      const ratio = tf.exp(logRatio);
      const a = tf.tensor1d(Float32Array.from(idx, (i) => advantages[i]));
      const surrogate = tf.mean(tf.minimum(tf.mul(ratio, a), tf.mul(tf.clipByValue(ratio, 1 - clip, 1 + clip), a)));
      const kl = tf.mean(tf.mul(ratio, logRatio));
      return tf.neg(tf.sub(surrogate, tf.mul(options.beta, kl))) as tf.Scalar;
    });
  } finally {
    trainer.dispose();
  }
}
