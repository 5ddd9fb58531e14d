/**
 * The TF.js optimiser path shared by every trainable policy and reward model: Adam on a scalar
 * loss over a set of variables, all tensors created inside `tf.tidy` and the optimiser disposed at
 * the end, so repeated cycles do not grow `tf.memory().numTensors`.
 */
import { tf } from "../backend";

export interface AdamOptions {
  /** Optimisation steps (full batch). Default 400. */
  steps?: number;
  /** Adam step size. Default 0.05. */
  learningRate?: number;
}

export interface AdamResult {
  initialLoss: number;
  finalLoss: number;
  steps: number;
}

export function minimiseAdam(loss: () => tf.Scalar, variables: tf.Variable[], options: AdamOptions = {}): AdamResult {
  const steps = options.steps ?? 400;
  const lr = options.learningRate ?? 0.05;
  const opt = tf.train.adam(lr);
  try {
    const first = tf.tidy(() => loss().dataSync()[0]);
    for (let i = 0; i < steps; i++) {
      const cost = opt.minimize(loss, false, variables);
      cost?.dispose();
    }
    const last = tf.tidy(() => loss().dataSync()[0]);
    if (!Number.isFinite(last)) throw new Error(`Adam produced a non-finite loss (${last}); lower the learning rate`);
    return { initialLoss: first, finalLoss: last, steps };
  } finally {
    opt.dispose();
  }
}
