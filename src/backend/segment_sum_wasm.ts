/**
 * `UnsortedSegmentSum` for the wasm backend, which has none: without it every gradient of
 * `tf.gather` fails there ("kernel not registered"). Written in JS over the wasm heap: one pass
 * over the rows, like the cpu version in segment_sum.ts.
 */
import * as tf from "@tensorflow/tfjs-core";

type WasmBackend = {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
};

export function unsortedSegmentSumWasm({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const wasm = backend as WasmBackend;
  const x = inputs.x as tf.TensorInfo;
  const ids = inputs.segmentIds as tf.TensorInfo;
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const rows = ids.shape.reduce((p, q) => p * q, 1);
  const out = wasm.makeOutput([numSegments, ...x.shape.slice(ids.shape.length)], x.dtype);
  // Views are taken after makeOutput: allocating may grow (and detach) the wasm memory.
  const xv = wasm.typedArrayFromHeap(x);
  const iv = wasm.typedArrayFromHeap(ids);
  const ov = wasm.typedArrayFromHeap(out);
  ov.fill(0);
  const inner = rows === 0 ? 0 : xv.length / rows;
  for (let r = 0; r < rows; r++) {
    const seg = iv[r];
    if (seg < 0 || seg >= numSegments) continue;
    const o = seg * inner;
    const i0 = r * inner;
    for (let j = 0; j < inner; j++) ov[o + j] += xv[i0 + j];
  }
  return out;
}

export function registerWasmSegmentSum(): void {
  if (tf.getKernel("UnsortedSegmentSum", "wasm")) return;
  tf.registerKernel({ kernelName: "UnsortedSegmentSum", backendName: "wasm", kernelFunc: unsortedSegmentSumWasm as unknown as tf.KernelFunc });
}
