/**
 * Supervised fine-tuning (behaviour cloning) of the transformer policy on expert steps: minimise
 * the per-token negative log-likelihood of the expert's action given the state, with mini-batch
 * Adam. Also the warm start of StepAgent on the text environments.
 */
import { tf } from "../backend";
import { AdamTrainer, minibatchSteps } from "../optim/adam";
import type { TextTrajectory } from "../data/formats";
import type { TransformerPolicy } from "./transformer";

export interface StateAction {
  state: string;
  action: string;
}

/**
 * The policy's view of step k: the task instruction and the current observation (the text
 * environments are near-Markov in these; longer histories would not fit a small context).
 */
export function policyState(instruction: string | undefined, observation: string): string {
  return instruction ? `${instruction}\n${observation}` : observation;
}

export function expertSteps(trajectories: TextTrajectory[]): StateAction[] {
  return trajectories.flatMap((t) => t.steps.map((s) => ({ state: policyState(t.instruction, s.observation), action: s.action })));
}

export interface SftOptions {
  steps: number;
  batchSize?: number;
  learningRate?: number;
  seed: number;
  onStep?: (step: number, loss: number) => void;
}

/** Mean per-token NLL of a batch (the SFT loss). */
export function nllLoss(policy: TransformerPolicy, batch: StateAction[]): tf.Scalar {
  const enc = policy.encode(batch.map((b) => b.state), batch.map((b) => b.action));
  const tokens = enc.mask.reduce((a, b) => a + b, 0);
  return tf.div(tf.neg(tf.sum(policy.sequenceLogProb(enc))), tokens) as tf.Scalar;
}

export function trainSft(policy: TransformerPolicy, data: StateAction[], options: SftOptions, trainer = new AdamTrainer(policy.trainable(), options.learningRate ?? 3e-3)): { losses: number[]; trainer: AdamTrainer } {
  if (data.length === 0) throw new Error("trainSft: no training examples");
  const losses = minibatchSteps(trainer, data.length, { steps: options.steps, batchSize: options.batchSize ?? 32, seed: options.seed, stream: "sft-batches", onStep: options.onStep }, (idx) =>
    nllLoss(policy, idx.map((i) => data[i])),
  );
  return { losses, trainer };
}
