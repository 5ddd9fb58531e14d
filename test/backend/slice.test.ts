import { test } from "node:test";
import assert from "node:assert/strict";
import { initBackend, tf } from "../../src/backend";
import { Rng } from "../../src/core/rng";

/** Slices and splits of every rank and axis, float32 and int32, empty parts. */
const CASES: { shape: number[]; begin: number[]; size: number[] }[] = [
  { shape: [7], begin: [2], size: [4] },
  { shape: [5, 6], begin: [1, 0], size: [3, 6] },
  { shape: [5, 6], begin: [1, 2], size: [3, 3] },
  { shape: [4, 5, 6], begin: [0, 1, 0], size: [4, 2, 6] },
  { shape: [4, 5, 6], begin: [1, 1, 1], size: [2, 3, -1] },
  { shape: [2, 3, 4, 5, 6], begin: [1, 0, 2, 1, 0], size: [1, 3, 2, 3, 6] },
  { shape: [2, 3, 4, 5, 6], begin: [0, 1, 0, 0, 3], size: [2, 2, 4, 5, 3] },
  { shape: [3, 4], begin: [1, 1], size: [0, 2] },
];

async function run(backend: "cpu" | "wasm"): Promise<number[][]> {
  await initBackend(backend);
  const rng = new Rng(2);
  const out: number[][] = [];
  for (const c of CASES) {
    const n = c.shape.reduce((p, q) => p * q, 1);
    const x = Float32Array.from({ length: n }, () => rng.normal());
    for (const dtype of ["float32", "int32"] as const) {
      const t = tf.tidy(() => tf.slice(tf.cast(tf.mul(tf.tensor(x, c.shape), 3), dtype), c.begin, c.size));
      out.push([...t.shape, ...(await t.data())]);
      t.dispose();
    }
    for (let axis = 0; axis < c.shape.length; axis++) {
      const d = c.shape[axis];
      const parts = tf.tidy(() => tf.split(tf.tensor(x, c.shape), [Math.floor(d / 3), 0, d - Math.floor(d / 3)], axis));
      for (const p of parts) out.push([...p.shape, ...(await p.data())]);
      tf.dispose(parts);
    }
  }
  return out;
}

test("wasm: Slice and SplitV read in place and equal the cpu backend's, every rank and axis", async () => {
  const cpu = await run("cpu");
  const wasm = await run("wasm");
  assert.equal(wasm.length, cpu.length);
  wasm.forEach((w, i) => assert.deepEqual(w, cpu[i], `case ${i}`));
});
