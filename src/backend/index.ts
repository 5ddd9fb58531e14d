/**
 * TensorFlow.js backend choice. Unless told otherwise (`STEPAGENT_BACKEND` or the argument), the
 * first that loads wins, in this order:
 *
 *   tensorflow-gpu  CUDA through @tensorflow/tfjs-node-gpu (optional dependency; needs CUDA 11.2 +
 *                   cuDNN 8 and its install script, which downloads libtensorflow)
 *   tensorflow      native CPU through @tensorflow/tfjs-node (optional dependency, same download)
 *   webgpu          @tensorflow/tfjs-backend-webgpu, where the runtime exposes navigator.gpu
 *   wasm            @tensorflow/tfjs-backend-wasm (SIMD; ships its .wasm files in the package)
 *   cpu             pure JS, always available
 *
 * Each skipped backend is reported with the reason. Gradients: tfjs-core's CommonJS bundle
 * registers none; tfjs-layers' bundle does, so it is loaded for that side effect. The cpu and
 * wasm backends get a linear-time UnsortedSegmentSum (the gradient of gather), see segment_sum*.ts;
 * wasm also gets a SIMD kernel for batched and transposed matrix products (batch_matmul_wasm.ts)
 * and a row-copying gather (gather_wasm.ts).
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-layers";
import { registerFastSegmentSum } from "./segment_sum";
import { registerWasmSegmentSum } from "./segment_sum_wasm";
import { kernelThreads, registerWasmBatchMatMul } from "./batch_matmul_wasm";
import { registerWasmGather } from "./gather_wasm";

export const BACKENDS = ["tensorflow-gpu", "tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendInfo {
  /** The backend in use, in stepagent's names. */
  name: BackendName;
  /** tfjs's own name for it ("tensorflow", "wasm", "cpu", …). */
  tfjsName: string;
  /** Why each backend before it was skipped. */
  skipped: { name: BackendName; reason: string }[];
}

let ready: BackendInfo | null = null;

function loadError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === "MODULE_NOT_FOUND") return "not installed";
  return (e.message ?? String(err)).split("\n")[0];
}

/** Tries to make `name` the active backend; returns null on success or the reason it failed. */
async function tryBackend(name: BackendName): Promise<string | null> {
  try {
    switch (name) {
      case "tensorflow-gpu":
      case "tensorflow": {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require(name === "tensorflow-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node");
        if (!tf.findBackend("tensorflow")) return "loaded, but registered no 'tensorflow' backend";
        return (await tf.setBackend("tensorflow")) ? null : "failed to initialise";
      }
      case "webgpu": {
        if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) return "no navigator.gpu in this runtime";
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require("@tensorflow/tfjs-backend-webgpu");
        return (await tf.setBackend("webgpu")) ? null : "no WebGPU adapter";
      }
      case "wasm": {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require("@tensorflow/tfjs-backend-wasm");
        registerWasmSegmentSum();
        await registerWasmBatchMatMul();
        registerWasmGather();
        return (await tf.setBackend("wasm")) ? null : "failed to initialise";
      }
      case "cpu":
        registerFastSegmentSum();
        return (await tf.setBackend("cpu")) ? null : "failed to initialise";
    }
  } catch (err) {
    return loadError(err);
  }
}

/**
 * Selects and initialises the backend (idempotent per process; a different explicit choice
 * switches). `preferred` (or STEPAGENT_BACKEND) forces one and fails with the reason if it cannot
 * load; without it the order above applies.
 */
export async function initBackend(preferred: BackendName | undefined = process.env.STEPAGENT_BACKEND as BackendName | undefined): Promise<BackendInfo> {
  if (ready && (preferred === undefined || preferred === ready.name)) return ready;
  // PROD silences tfjs's "install tfjs-node" banner, which would otherwise land in --json output.
  tf.env().set("PROD", true);
  if (preferred !== undefined && !(BACKENDS as readonly string[]).includes(preferred)) {
    throw new Error(`unknown backend ${JSON.stringify(preferred)} (STEPAGENT_BACKEND must be one of ${BACKENDS.join(", ")})`);
  }
  kernelThreads(); // a bad STEPAGENT_THREADS is an error here, not a reason to skip wasm
  const skipped: BackendInfo["skipped"] = [];
  for (const name of preferred ? [preferred] : DEFAULT_ORDER) {
    const reason = await tryBackend(name);
    if (reason === null) {
      await tf.ready();
      ready = { name, tfjsName: tf.getBackend(), skipped };
      return ready;
    }
    if (preferred) throw new Error(`backend ${name} is not available here: ${reason}`);
    skipped.push({ name, reason });
  }
  throw new Error(`no TensorFlow.js backend could be initialised: ${skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")}`);
}

/** The default order (see the top of this file). */
const DEFAULT_ORDER: BackendName[] = ["tensorflow-gpu", "tensorflow", "webgpu", "wasm", "cpu"];

/** One line for people: the backend and why the ones before it were skipped. */
export function describeBackend(info: BackendInfo): string {
  const why = info.skipped.length ? ` (skipped ${info.skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")})` : "";
  return `TensorFlow.js backend: ${info.name}${why}`;
}

export { tf };
