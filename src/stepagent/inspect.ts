/**
 * Inspection (DESIGN.md, step 1): at each expert step, let the agent propose actions from the
 * expert's prefix and compare them with the expert's action. A match gives no signal; a mismatch
 * gives a step pair (state, chosen = expert action, rejected = agent action) with a step reward.
 *
 * Two forms:
 * - `inspectSteps` — sampled: n agent samples at every given expert step (finite pairs);
 * - `inspectExact` — population: every (expert action, agent action) combination at every
 *   expert-visited state, weighted by d_E(s)·π_E(a|s)·π_k(â|s): the expectation the sampled
 *   form estimates.
 */
import type { Rng } from "../core/rng";
import { StepBatchBuilder, StepPairBatchBuilder, type Inspection, type StepBatch } from "../core/batch";
import { requireInteger } from "../core/errors";
import type { TabularPolicy } from "../policies/tabular";
import { sampleExpertSteps, type TabularMdp } from "../envs/tabular";

/** Step reward of an agent action that differs from the expert's. Binary inspection: 0. */
export type StepRewardFn = (state: number, expertAction: number, agentAction: number) => number;

export const binaryStepReward: StepRewardFn = () => 0;

export interface InspectOptions {
  /** Agent samples per expert step (n). */
  samplesPerStep: number;
  stepReward?: StepRewardFn;
}

/** Sampled inspection of given expert steps. */
export function inspectSteps(expert: StepBatch, policy: TabularPolicy, rng: Rng, options: InspectOptions): Inspection {
  const n = requireInteger("samplesPerStep", options.samplesPerStep, 1);
  const reward = options.stepReward ?? binaryStepReward;
  const agent = new StepBatchBuilder();
  const pairs = new StepPairBatchBuilder();
  let matches = 0;
  let total = 0;
  for (let i = 0; i < expert.size; i++) {
    const s = expert.state[i];
    const aE = expert.action[i];
    const w = expert.weight[i];
    for (let j = 0; j < n; j++) {
      const a = policy.sample(s, rng);
      agent.push(s, a, w);
      total += w;
      if (a === aE) matches += w;
      else pairs.push(s, aE, a, w, reward(s, aE, a));
    }
  }
  return { mode: "sampled", expert, agent: agent.build(), pairs: pairs.build(), matchRate: total > 0 ? matches / total : 0 };
}

/** Sampled inspection on fresh expert episodes of the MDP. */
export function inspectSampled(mdp: TabularMdp, policy: TabularPolicy, rng: Rng, options: InspectOptions & { episodes: number }): Inspection {
  const episodes = requireInteger("episodes", options.episodes, 1);
  const expert = sampleExpertSteps(mdp, episodes, rng.fork("inspection/expert"));
  return inspectSteps(expert, policy, rng.fork("inspection/agent"), options);
}

/** Population inspection: the expectation of `inspectSteps` under d_E, π_E and π_k. */
export function inspectExact(mdp: TabularMdp, visitation: Float64Array, policy: TabularPolicy, stepReward: StepRewardFn = binaryStepReward): Inspection {
  const S = mdp.numStates;
  const A = mdp.numActions;
  const expert = new StepBatchBuilder();
  const agent = new StepBatchBuilder();
  const pairs = new StepPairBatchBuilder();
  let matches = 0;
  let total = 0;
  for (let s = 0; s < S; s++) {
    const d = visitation[s];
    if (d === 0) continue;
    const pE = mdp.expertDistribution(s);
    const pK = policy.distribution(s);
    for (let a = 0; a < A; a++) {
      expert.push(s, a, d * pE[a]);
      agent.push(s, a, d * pK[a]);
      matches += d * pE[a] * pK[a];
      for (let b = 0; b < A; b++) {
        if (b !== a) pairs.push(s, a, b, d * pE[a] * pK[b], stepReward(s, a, b));
      }
    }
    total += d;
  }
  return { mode: "exact", expert: expert.build(), agent: agent.build(), pairs: pairs.build(), matchRate: matches / total };
}
