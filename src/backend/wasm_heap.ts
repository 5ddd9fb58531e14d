/**
 * What stepagent's own wasm-backend kernels use of tfjs-backend-wasm: outputs allocated on its
 * heap, typed-array views of tensors there, and a way to put a kernel in front of tfjs's own.
 */
import * as tf from "@tensorflow/tfjs-core";

export type WasmBackend = {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** A view of the tensor's data on the heap; take views after `makeOutput` (it may move the heap). */
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
};

export type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/**
 * Replaces the wasm backend's kernel `name` with `ours`, which returns null for the cases it
 * leaves to tfjs's kernel (kept, with its setup). Idempotent.
 */
export function overrideWasmKernel(name: string, ours: (args: KernelArgs) => tf.TensorInfo | null): void {
  const original = tf.getKernel(name, "wasm");
  if (!original || (original as { stepagent?: boolean }).stepagent) return;
  const fallback = original.kernelFunc as unknown as (args: KernelArgs) => tf.TensorInfo;
  const kernelFunc = (args: KernelArgs) => ours(args) ?? fallback(args);
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc, stepagent: true } as tf.KernelConfig);
}
