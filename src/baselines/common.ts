/**
 * What every method (StepAgent and the baselines) reports per cycle, and the budget they share.
 *
 * Equal budget: in cycle k every method may use the T = episodes·H expert steps StepAgent's
 * sampled inspection draws in that cycle (same seeds, so the same steps) and n·T agent action
 * samples (StepAgent: n proposals per expert step; outcome-reward PG: n·episodes roll-outs of H
 * steps). Behaviour cloning uses the expert steps only.
 */
import { defaultEpisodes, type ConvergenceRun, type ConvergenceTask } from "../stepagent/cycle";
import type { TabularPolicy } from "../policies/tabular";
import { klToExpert } from "../analysis/kl";
import { expectedReturn } from "../envs/tabular";
import { requireInteger } from "../core/errors";
import type { AdamOptions } from "../optim/adam";

export interface MethodCycle {
  cycle: number;
  /** KL(π_E‖π_k) averaged over expert-visited states. */
  kl: number;
  /** Exact expected episode return J(π_k). */
  expectedReturn: number;
  /** Cumulative expert steps and agent action samples used. */
  expertSteps: number;
  agentSamples: number;
  seconds: number;
}

export interface MethodRun {
  method: string;
  cycles: MethodCycle[];
  final: TabularPolicy;
}

export interface BaselineOptions {
  cycles: number;
  seed: number;
  /** Expert episodes per cycle (T = episodes·H). Default ⌈400·S/H⌉, as StepAgent's sampled mode. */
  episodes?: number;
  /** n: agent samples per expert step of budget. Default 8. */
  samplesPerStep?: number;
  adam?: AdamOptions;
}

export function resolveBudget(task: ConvergenceTask, o: BaselineOptions) {
  return {
    cycles: requireInteger("cycles", o.cycles, 0),
    episodes: requireInteger("episodes", o.episodes ?? defaultEpisodes(task.mdp), 1),
    samplesPerStep: requireInteger("samplesPerStep", o.samplesPerStep ?? 8, 1),
  };
}

export function measure(task: ConvergenceTask, policy: TabularPolicy, cycle: number, expertSteps: number, agentSamples: number, seconds: number): MethodCycle {
  return {
    cycle,
    kl: klToExpert(task.mdp.expertLogProbs, policy.logProbs, task.visitation, task.mdp.numActions),
    expectedReturn: expectedReturn(task.mdp, policy.logProbs),
    expertSteps,
    agentSamples,
    seconds,
  };
}

/** A StepAgent run in the baselines' shape. */
export function methodRunFromStepAgent(run: ConvergenceRun, method = `stepagent-${run.reflection}`): MethodRun {
  return {
    method,
    final: run.final,
    cycles: run.cycles.map((c) => ({ cycle: c.cycle, kl: c.kl, expectedReturn: c.expectedReturn, expertSteps: c.expertSteps, agentSamples: c.agentSamples, seconds: c.seconds })),
  };
}
