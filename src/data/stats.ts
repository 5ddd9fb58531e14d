/** `stepagent data stats`: what a trajectory file holds, computed in one streaming pass. */
import { actionVerb } from "./react";
import type { TextTrajectory } from "./formats";
import type { ReadReport } from "./io";

export interface TrajectoryStats {
  format: string | null;
  trajectories: number;
  steps: number;
  meanSteps: number;
  maxSteps: number;
  distinctActions: number;
  /** Action verb → count, most frequent first. */
  verbs: Record<string, number>;
  reward: { count: number; mean: number | null; min: number | null; max: number | null };
  success: { count: number; rate: number | null };
  skipped: number;
  skippedReasons: Record<string, number>;
}

export async function trajectoryStats(trajectories: AsyncIterable<TextTrajectory>, report: ReadReport): Promise<TrajectoryStats> {
  let n = 0;
  let steps = 0;
  let maxSteps = 0;
  const actions = new Set<string>();
  const verbs = new Map<string, number>();
  let rCount = 0;
  let rSum = 0;
  let rMin = Infinity;
  let rMax = -Infinity;
  let sCount = 0;
  let sTrue = 0;
  for await (const t of trajectories) {
    n++;
    steps += t.steps.length;
    maxSteps = Math.max(maxSteps, t.steps.length);
    for (const s of t.steps) {
      actions.add(s.action);
      const v = actionVerb(s.action);
      verbs.set(v, (verbs.get(v) ?? 0) + 1);
    }
    if (t.reward !== undefined) {
      rCount++;
      rSum += t.reward;
      rMin = Math.min(rMin, t.reward);
      rMax = Math.max(rMax, t.reward);
    }
    if (t.success !== undefined) {
      sCount++;
      if (t.success) sTrue++;
    }
  }
  return {
    format: report.jsonl && report.format ? `${report.format} (jsonl)` : report.format,
    trajectories: n,
    steps,
    meanSteps: n ? steps / n : 0,
    maxSteps,
    distinctActions: actions.size,
    verbs: Object.fromEntries([...verbs.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    reward: { count: rCount, mean: rCount ? rSum / rCount : null, min: rCount ? rMin : null, max: rCount ? rMax : null },
    success: { count: sCount, rate: sCount ? sTrue / sCount : null },
    skipped: report.skipped,
    skippedReasons: report.reasons,
  };
}
