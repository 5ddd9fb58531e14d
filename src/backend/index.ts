/**
 * TensorFlow.js backend set-up. The spine uses the pure-JS `cpu` backend, which installs and runs
 * everywhere; faster backends (wasm, tfjs-node, CUDA) are chosen here as they land.
 *
 * Gradients: tfjs-core's CommonJS bundle registers no gradient kernels; tfjs-layers' bundle does,
 * so it is loaded for that side effect.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-layers";
import { registerFastSegmentSum } from "./segment_sum";

export interface BackendInfo {
  name: string;
  reason: string;
}

let ready: BackendInfo | null = null;

/** Selects and initialises the backend (idempotent). */
export async function initBackend(): Promise<BackendInfo> {
  if (ready) return ready;
  // PROD silences tfjs's "install tfjs-node" banner, which would otherwise land in --json output.
  tf.env().set("PROD", true);
  registerFastSegmentSum();
  const ok = await tf.setBackend("cpu");
  if (!ok) throw new Error("TensorFlow.js: the cpu backend failed to initialise");
  await tf.ready();
  ready = { name: tf.getBackend(), reason: "pure-JS cpu backend (always available; wasm/native backends not wired in yet)" };
  return ready;
}

export { tf };
