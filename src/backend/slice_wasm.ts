/**
 * `Slice` and `SplitV` for the wasm backend, reading the input in place. tfjs-backend-wasm 4.22's
 * slice first copies the whole input out of the heap (`readSync`), so each of the three parts of
 * a split copies all of it: splitting GPT-2's fused q/k/v of a batch of 8 × 256 tokens
 * ([8, 36, 256, 64]) took ≈ 130 ms (measured here). These copy each contiguous run of the slice
 * once, straight from the heap: the last dimensions taken whole and the one before them form a
 * run, and the runs are walked in order.
 */
import * as tf from "@tensorflow/tfjs-core";
import { overrideWasmKernel, type KernelArgs, type WasmBackend } from "./wasm_heap";

function copySlice(w: WasmBackend, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const out = w.makeOutput(size, x.dtype);
  if (size.some((s) => s === 0)) return out;
  const src = w.typedArrayFromHeap(x);
  const dst = w.typedArrayFromHeap(out);
  const rank = x.shape.length;
  if (rank === 0) {
    dst[0] = src[0];
    return out;
  }
  const stride = new Array<number>(rank);
  stride[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) stride[i] = stride[i + 1] * x.shape[i + 1];
  // Dimensions after d are taken whole; with d's part they make one contiguous run.
  let d = rank - 1;
  let run = 1;
  while (d > 0 && size[d] === x.shape[d]) run *= size[d--];
  run *= size[d];
  const count = size.slice(0, d).reduce((p, q) => p * q, 1);
  const idx = new Array<number>(d).fill(0);
  for (let o = 0, at = 0; o < count; o++, at += run) {
    let from = begin[d] * stride[d];
    for (let i = 0; i < d; i++) from += (begin[i] + idx[i]) * stride[i];
    dst.set(src.subarray(from, from + run), at);
    for (let i = d - 1; i >= 0 && ++idx[i] === size[i]; i--) idx[i] = 0;
  }
  return out;
}

const copyable = (x: tf.TensorInfo) => x.dtype === "float32" || x.dtype === "int32";

export function sliceInPlace({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo;
  if (!copyable(x)) return null;
  const { begin, size } = attrs as { begin: number | number[]; size: number | number[] };
  const [b, s] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
  return copySlice(backend as WasmBackend, x, b, s);
}

export function splitInPlace({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] | null {
  const x = inputs.x as tf.TensorInfo;
  if (!copyable(x)) return null;
  const { numOrSizeSplits, axis } = attrs as { numOrSizeSplits: number | number[]; axis: number };
  const ax = tf.util.parseAxisParam(axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((n) => {
    const size = [...x.shape];
    size[ax] = n;
    const part = copySlice(backend as WasmBackend, x, [...begin], size);
    begin[ax] += n;
    return part;
  });
}

export function registerWasmSlice(): void {
  overrideWasmKernel("Slice", sliceInPlace);
  overrideWasmKernel("SplitV", splitInPlace as unknown as (args: KernelArgs) => tf.TensorInfo | null);
}
