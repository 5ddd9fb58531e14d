/**
 * Evaluation of a sequence policy on held-out tasks: roll out each task (actions sampled with the
 * given temperature; 0 = greedy), report success rate, mean reward, mean steps and the rate of
 * invalid actions (the environment's invalid-action message).
 */
import { Rng } from "../../core/rng";
import type { TextEnvFamily, TextTask } from "../../envs/text/common";
import { policyState } from "../../policies/text_sft";
import type { TransformerPolicy } from "../../policies/transformer";

export interface Evaluation {
  tasks: number;
  successRate: number;
  meanReward: number;
  meanSteps: number;
  invalidRate: number;
}

const INVALID = /^(Nothing happens\.|Invalid action)/;

export function evaluateText<T extends TextTask>(family: TextEnvFamily<T>, tasks: T[], policy: TransformerPolicy, options: { temperature?: number; seed: number }): Evaluation {
  const rng = new Rng(options.seed).fork("evaluate");
  const envs = tasks.map((t) => family.make(t));
  const obs = envs.map((e) => e.reset(rng));
  let invalid = 0;
  let actions = 0;
  // All episodes advance together, one batched policy call per step.
  while (envs.some((e) => !e.done)) {
    const live = envs.map((e, i) => [e, i] as const).filter(([e]) => !e.done);
    const acts = policy.sample(live.map(([, i]) => policyState(tasks[i].instruction, obs[i])), rng, options.temperature ?? 0);
    live.forEach(([e, i], j) => {
      const r = e.step(acts[j]);
      actions++;
      if (INVALID.test(r.observation)) invalid++;
      obs[i] = r.observation;
    });
  }
  const n = envs.length;
  return {
    tasks: n,
    successRate: envs.filter((e) => e.success).length / n,
    meanReward: envs.reduce((a, e) => a + e.reward, 0) / n,
    meanSteps: envs.reduce((a, e) => a + e.steps, 0) / n,
    invalidRate: actions ? invalid / actions : 0,
  };
}
