import type { StateAction } from "../../src/core/types";
import type { TextPolicy } from "../../src/policies/text_policy";

/**
 * Σ_i (r_i − r̄)·Δlog π(a_i|s_i) over `samples` across `update`, which changes the policy and
 * returns the step reward it used (of a sample's state and action, and its index in `samples`): positive when the update raised the log-probs of the samples
 * the reward prefers and lowered the others, which is what a policy-gradient step on it must do.
 */
export async function rewardWeightedLogProbChange(
  policy: TextPolicy,
  samples: StateAction[],
  update: () => Promise<(state: string, action: string, index: number) => number>,
): Promise<number> {
  const states = samples.map((s) => s.state);
  const actions = samples.map((s) => s.action);
  const before = await policy.logProbs(states, actions);
  const reward = await update();
  const after = await policy.logProbs(states, actions);
  const r = samples.map((s, i) => reward(s.state, s.action, i));
  const mean = r.reduce((a, b) => a + b, 0) / r.length;
  return samples.reduce((acc, _s, i) => acc + (r[i] - mean) * (after[i] - before[i]), 0);
}
