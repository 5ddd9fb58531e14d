/**
 * TensorFlow.js backend choice. Unless told otherwise (`STEPAGENT_BACKEND` or the argument), the
 * first that loads wins, in this order:
 *
 *   tensorflow-gpu  CUDA through @tensorflow/tfjs-node-gpu (optional dependency; needs CUDA 11.2 +
 *                   cuDNN 8 and its install script, which downloads libtensorflow)
 *   tensorflow      native CPU through @tensorflow/tfjs-node (optional dependency, same download)
 *   webgpu          @tensorflow/tfjs-backend-webgpu on a hardware adapter; navigator.gpu comes from the
 *                   runtime or from the `webgpu` package (Dawn). A software adapter (llvmpipe and the
 *                   like) is skipped, being slower than wasm, unless webgpu is asked for by name.
 *   wasm            @tensorflow/tfjs-backend-wasm (SIMD; ships its .wasm files in the package)
 *   cpu             pure JS, always available
 *
 * Each skipped backend is reported with the reason. Gradients: tfjs-core's CommonJS bundle
 * registers none; tfjs-layers' bundle does, so it is loaded for that side effect. The cpu and
 * wasm backends get a linear-time UnsortedSegmentSum (the gradient of gather), see segment_sum*.ts;
 * wasm also gets a SIMD kernel for batched, transposed and large matrix products (batch_matmul_wasm.ts),
 * a row-copying gather (gather_wasm.ts), and a slice and split that read the input in place
 * (slice_wasm.ts).
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-layers";
import { registerFastSegmentSum } from "./segment_sum";
import { registerWasmSegmentSum } from "./segment_sum_wasm";
import { fmaRequested, kernelThreads, registerWasmBatchMatMul } from "./batch_matmul_wasm";
import { registerWasmGather } from "./gather_wasm";
import { registerWasmSlice } from "./slice_wasm";
import { describeAdapter, guardDeviceErrors, probeAdapter, probeAdapterIsolated, type AdapterInfo } from "./webgpu";

export const BACKENDS = ["tensorflow-gpu", "tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendInfo {
  /** The backend in use, in stepagent's names. */
  name: BackendName;
  /** tfjs's own name for it ("tensorflow", "wasm", "cpu", …). */
  tfjsName: string;
  /** Why each backend before it was skipped. */
  skipped: { name: BackendName; reason: string }[];
  /** The WebGPU adapter, when the backend is webgpu. */
  adapter?: AdapterInfo;
}

let ready: BackendInfo | null = null;

function loadError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === "MODULE_NOT_FOUND") return "not installed";
  return (e.message ?? String(err)).split("\n")[0];
}

/**
 * Tries to make `name` the active backend; returns null on success or the reason it failed.
 * `forced`: asked for by name, so a software WebGPU adapter is taken too.
 */
async function tryBackend(name: BackendName, forced: boolean, found: { adapter?: AdapterInfo }): Promise<string | null> {
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
        // Look first in a child process, so that a machine without a usable adapter never loads
        // Dawn here (its driver messages would precede the one-line reason).
        const look = await probeAdapterIsolated();
        if ("reason" in look) return look.reason;
        if (look.adapter.software && !forced) return `the only adapter is ${describeAdapter(look.adapter)}, slower than wasm; STEPAGENT_BACKEND=webgpu uses it`;
        const probe = await probeAdapter();
        if ("reason" in probe) return probe.reason;
        // Loaded only now: it registers the backend only if navigator.gpu exists (probeAdapter made it).
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require("@tensorflow/tfjs-backend-webgpu");
        if (!tf.findBackendFactory("webgpu")) return "@tensorflow/tfjs-backend-webgpu loaded, but registered no 'webgpu' backend";
        if (!(await tf.setBackend("webgpu"))) return `failed to initialise on ${describeAdapter(probe.adapter)}`;
        guardDeviceErrors(tf.backend());
        found.adapter = probe.adapter;
        return null;
      }
      case "wasm": {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require("@tensorflow/tfjs-backend-wasm");
        registerWasmSegmentSum();
        await registerWasmBatchMatMul();
        registerWasmGather();
        registerWasmSlice();
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
export async function initBackend(
  preferred: BackendName | undefined = (process.env.STEPAGENT_BACKEND || undefined) as BackendName | undefined,
): Promise<BackendInfo> {
  if (ready && (preferred === undefined || preferred === ready.name)) return ready;
  // PROD silences tfjs's "install tfjs-node" banner, which would otherwise land in --json output.
  tf.env().set("PROD", true);
  if (preferred !== undefined && !(BACKENDS as readonly string[]).includes(preferred)) {
    throw new Error(`unknown backend ${JSON.stringify(preferred)} (STEPAGENT_BACKEND must be one of ${BACKENDS.join(", ")})`);
  }
  // A bad STEPAGENT_THREADS or STEPAGENT_WASM_FMA is an error here, not a reason to skip wasm.
  kernelThreads();
  fmaRequested();
  const skipped: BackendInfo["skipped"] = [];
  for (const name of preferred ? [preferred] : DEFAULT_ORDER) {
    const found: { adapter?: AdapterInfo } = {};
    const reason = await tryBackend(name, preferred !== undefined, found);
    if (reason === null) {
      await tf.ready();
      ready = { name, tfjsName: tf.getBackend(), skipped, ...found };
      return ready;
    }
    if (preferred) throw new Error(`backend ${name} is not available here: ${reason}`);
    skipped.push({ name, reason });
  }
  throw new Error(`no TensorFlow.js backend could be initialised: ${skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")}`);
}

/** The default order (see the top of this file). */
const DEFAULT_ORDER: BackendName[] = ["tensorflow-gpu", "tensorflow", "webgpu", "wasm", "cpu"];

/** One line for people: the backend (and its adapter) and why the ones before it were skipped. */
export function describeBackend(info: BackendInfo): string {
  const why = info.skipped.length ? ` (skipped ${info.skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")})` : "";
  return `TensorFlow.js backend: ${backendLabel(info)}${why}`;
}

/** The backend's name, with the adapter for webgpu: for headings and reports. */
export function backendLabel(info: BackendInfo): string {
  return info.adapter ? `${info.name} on ${describeAdapter(info.adapter)}` : info.name;
}

/** The fields every --json output and report carries about the backend. */
export function backendJson(info: BackendInfo): { backend: BackendName; adapter: AdapterInfo | null } {
  return { backend: info.name, adapter: info.adapter ?? null };
}

export { describeAdapter, probeAdapter, probeAdapterIsolated, type AdapterInfo } from "./webgpu";

export { tf };

/**
 * A tensor's values, read without blocking, then the tensor disposed. The only read every backend
 * supports: on WebGPU in Node a synchronous read (dataSync) fails.
 */
export async function readAndDispose(t: { data(): Promise<unknown>; dispose(): void }): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}
