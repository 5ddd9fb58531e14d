/**
 * The convergence result of DESIGN.md in closed form. For a tabular policy and exact objectives,
 * both reflections give π_{k+1}(a|s) ∝ π_k(a|s)·(π_E(a|s)/π_k(a|s))^{1/β}, hence
 *   log π_k − log π_E ≡ (1 − 1/β)^k (log π_0 − log π_E)   (mod a per-state constant).
 * These functions are the reference the measured cycles are compared with; nothing in the
 * training path calls them.
 */
import { logSoftmaxRows } from "./kl";

/** The factor by which log(π_k/π_E) shrinks per cycle. */
export function contractionFactor(beta: number): number {
  return 1 - 1 / beta;
}

/** One closed-form cycle: log π_{k+1} = (1 − 1/β) log π_k + (1/β) log π_E, renormalised. */
export function closedFormCycle(policyLogProbs: ArrayLike<number>, expertLogProbs: ArrayLike<number>, beta: number, S: number, A: number): Float64Array {
  return theoryPolicy(policyLogProbs, expertLogProbs, beta, 1, S, A);
}

/**
 * The policy the closed form predicts after k cycles from π_0, computed directly with the power
 * c^k (not by iterating, so round-off does not accumulate).
 */
export function theoryPolicy(startLogProbs: ArrayLike<number>, expertLogProbs: ArrayLike<number>, beta: number, k: number, S: number, A: number): Float64Array {
  const ck = Math.pow(contractionFactor(beta), k);
  const logits = new Float64Array(S * A);
  for (let i = 0; i < S * A; i++) logits[i] = expertLogProbs[i] + ck * (startLogProbs[i] - expertLogProbs[i]);
  return logSoftmaxRows(logits, S, A);
}

/** Whether the cycle converges for this β: |1 − 1/β| < 1 ⇔ β > 1/2. */
export function converges(beta: number): boolean {
  return beta > 0.5;
}
