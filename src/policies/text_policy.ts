/**
 * What every method asks of a language policy: log π(a|s) for a batch of (state, action) pairs
 * (differentiable, for losses; and as numbers, for references and metrics), the full next-token
 * distributions along an action (for an exact KL between two policies), sampled actions, and the
 * variables an optimiser updates. The built-in `TransformerPolicy` and pretrained Hugging Face
 * models implement it; methods depend on this interface only.
 *
 * Reads from the device are asynchronous: on a GPU backend (WebGPU) a synchronous read is not
 * possible, so everything that returns numbers returns a Promise.
 */
import { tf } from "../backend";
import type { Rng } from "../core/rng";

/**
 * log π(v | s, a_<t) for every vocabulary token v at each scored position t of a batch of pairs
 * (the positions whose log-probs log π(a|s) sums: the action's tokens, then its end token).
 */
export interface TokenDistributions {
  /** [B, T, V], T the most scored tokens of any pair; rows past a pair's own count are valid distributions, masked out. */
  logProbs: tf.Tensor3D;
  /** [B, T]: 1 at a pair's scored positions, 0 after them. */
  mask: tf.Tensor2D;
  /** The scored token at each position, b·T + t (0 where masked): what log π(a|s) picks from each row. */
  targets: Int32Array;
}

export interface TextPolicy {
  /** log π(a|s) per pair as a [B] tensor, differentiable with respect to `trainable()`. */
  sequenceLogProb(states: string[], actions: string[]): tf.Tensor1D;
  /**
   * The next-token log-distributions along each action (teacher-forced), differentiable with
   * respect to `trainable()`; the same pass as `sequenceLogProb`, which is their sum at `targets`,
   * except that it applies no dropout: it is compared with a snapshot's, which has none.
   */
  nextTokenLogProbs(states: string[], actions: string[]): TokenDistributions;
  /** How many token log-probs each log π(a|s) sums (the action's tokens and its end token). */
  scoredTokens(states: string[], actions: string[]): number[];
  /** log π(a|s) for many pairs, in batches, without gradient. */
  logProbs(states: string[], actions: string[], batchSize?: number): Promise<Float64Array>;
  /** One action per state, sampled with temperature τ (τ = 0: greedy) from the given stream. */
  sample(states: string[], rng: Rng, temperature?: number, batchSize?: number): Promise<string[]>;
  /** The variables an update changes (all weights, or only adapters for LoRA). */
  trainable(): tf.Variable[];
  /**
   * A frozen copy of the policy as it is now (π_k for a KL penalty): updates of this policy do
   * not change it, and it applies no dropout. It shares what never trains (a LoRA model's base
   * weights), so it costs a copy of `trainable()`. Dispose it when done.
   */
  snapshot(): Promise<TextPolicy>;
  /** Trainable and frozen weights by name (copies), e.g. to restart from a warm start. */
  weights(): Promise<Map<string, Float32Array>>;
  dispose(): void;
}

/**
 * Log-softmax rows of the scored positions, [N, V] in pair order, laid out as `TokenDistributions`:
 * `owner[i]` is the pair of row i and `targets[i]` its scored token.
 */
export function layOutByPair(logp: tf.Tensor2D, targets: Int32Array, owner: Int32Array, batch: number): TokenDistributions {
  const counts = new Array<number>(batch).fill(0);
  for (const b of owner) counts[b]++;
  const T = Math.max(1, ...counts);
  // Row of `logp` for each (b, t); padding points at row 0, a valid distribution, so masked terms stay finite.
  const rows = new Int32Array(batch * T);
  const mask = new Float32Array(batch * T);
  const laidTargets = new Int32Array(batch * T);
  const seen = new Array<number>(batch).fill(0);
  owner.forEach((b, i) => {
    const at = b * T + seen[b]++;
    rows[at] = i;
    mask[at] = 1;
    laidTargets[at] = targets[i];
  });
  const V = logp.shape[1];
  return {
    logProbs: tf.reshape(tf.gather(logp, tf.tensor1d(rows, "int32")), [batch, T, V]) as tf.Tensor3D,
    mask: tf.tensor2d(mask, [batch, T]),
    targets: laidTargets,
  };
}

/** Σ over each pair's rows of the log-prob of its scored token: log π(a|s) per pair, [batch]. */
export function sumScored(logp: tf.Tensor2D, targets: Int32Array, owner: Int32Array, batch: number): tf.Tensor1D {
  const V = logp.shape[1];
  const flat = Int32Array.from(targets, (t, i) => i * V + t);
  const picked = tf.gather(tf.reshape(logp, [-1]), tf.tensor1d(flat, "int32"));
  return tf.unsortedSegmentSum(picked, tf.tensor1d(owner, "int32"), batch) as tf.Tensor1D;
}
