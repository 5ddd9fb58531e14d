/**
 * A linear-time `UnsortedSegmentSum` for the cpu backend.
 *
 * tfjs-backend-cpu 4.22 builds it from one mask-multiply-sum per segment: O(segments × rows). It
 * is the gradient of every `tf.gather` (embedding lookups, per-(state, action) log-probs), so
 * with S·A segments training slowed to seconds per step. This kernel scatters each row once:
 * O(rows × inner). Checked against the stock kernel in test/backend.
 */
import * as tf from "@tensorflow/tfjs-core";

type CpuBackend = {
  data: { get(id: unknown): { values: ArrayLike<number> } };
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array | Int32Array): tf.TensorInfo;
};

/**
 * out[ids[r]] += x[r] for every row r (rows of `inner` values; `out` must start at zero). Rows with
 * an out-of-range id are dropped, as in TensorFlow. Shared by the cpu and wasm kernels.
 */
export function scatterAddRows(x: ArrayLike<number>, ids: ArrayLike<number>, rows: number, numSegments: number, out: Float32Array | Int32Array): void {
  const inner = rows === 0 ? 0 : x.length / rows;
  for (let r = 0; r < rows; r++) {
    const seg = ids[r];
    if (seg < 0 || seg >= numSegments) continue;
    const o = seg * inner;
    const i0 = r * inner;
    for (let j = 0; j < inner; j++) out[o + j] += x[i0 + j];
  }
}

export function unsortedSegmentSumCpu({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const cpu = backend as CpuBackend;
  const x = inputs.x as tf.TensorInfo;
  const ids = inputs.segmentIds as tf.TensorInfo;
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const xv = cpu.data.get(x.dataId).values;
  const iv = cpu.data.get(ids.dataId).values;
  const rows = ids.shape.reduce((p, q) => p * q, 1);
  const inner = rows === 0 ? 0 : xv.length / rows;
  const out = x.dtype === "int32" ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
  scatterAddRows(xv, iv, rows, numSegments, out);
  return cpu.makeTensorInfo([numSegments, ...x.shape.slice(ids.shape.length)], x.dtype, out);
}

/** Replaces the cpu backend's UnsortedSegmentSum with the linear-time kernel (idempotent). */
export function registerFastSegmentSum(): void {
  const existing = tf.getKernel("UnsortedSegmentSum", "cpu");
  if (existing && existing.kernelFunc === (unsortedSegmentSumCpu as unknown)) return;
  if (existing) tf.unregisterKernel("UnsortedSegmentSum", "cpu");
  tf.registerKernel({ kernelName: "UnsortedSegmentSum", backendName: "cpu", kernelFunc: unsortedSegmentSumCpu as unknown as tf.KernelFunc });
}
