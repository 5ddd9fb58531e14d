/**
 * `GatherV2` for the wasm backend as whole-row copies. tfjs-backend-wasm 4.22's gather takes
 * ≈ 20 ms to look up 10176 rows of 64 floats (the token embeddings of a 64 × 159 batch; measured
 * here), ≈ 4% of a train step; copying each gathered slice with one `TypedArray.set` takes ≈ 1 ms.
 * Handles batchDims = 0 and any axis; other cases go to tfjs's kernel.
 */
import * as tf from "@tensorflow/tfjs-core";
import { overrideWasmKernel, type KernelArgs, type WasmBackend } from "./wasm_heap";

export function gatherRows({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo;
  const indices = inputs.indices as tf.TensorInfo;
  const { axis: axisAttr, batchDims } = attrs as { axis: number; batchDims: number };
  if (batchDims !== 0 || indices.dtype !== "int32" || (x.dtype !== "float32" && x.dtype !== "int32")) return null;
  const axis = axisAttr < 0 ? axisAttr + x.shape.length : axisAttr;
  const outer = x.shape.slice(0, axis).reduce((p, q) => p * q, 1);
  const dim = x.shape[axis];
  const inner = x.shape.slice(axis + 1).reduce((p, q) => p * q, 1);
  const w = backend as WasmBackend;
  const out = w.makeOutput([...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)], x.dtype);
  const src = w.typedArrayFromHeap(x);
  const ids = w.typedArrayFromHeap(indices) as Int32Array;
  const dst = w.typedArrayFromHeap(out);
  const n = ids.length;
  for (let j = 0; j < n; j++) if (ids[j] < 0 || ids[j] >= dim) throw new Error(`gather: index ${ids[j]} (position ${j}) is outside [0, ${dim - 1}]`);
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < n; j++) {
      const from = (o * dim + ids[j]) * inner;
      dst.set(src.subarray(from, from + inner), (o * n + j) * inner);
    }
  return out;
}

export function registerWasmGather(): void {
  overrideWasmKernel("GatherV2", gatherRows);
}
