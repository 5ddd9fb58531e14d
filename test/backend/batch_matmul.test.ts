import { test } from "node:test";
// Three threads (this one and two helpers) whatever the machine has, so that products are split
// unevenly; read when the kernel loads, at the first initBackend("wasm") of this process.
process.env.STEPAGENT_THREADS = "3";
import assert from "node:assert/strict";
import { initBackend, tf } from "../../src/backend";
import { Rng } from "../../src/core/rng";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { kernelThreads, LARGE_SINGLE, simdBatchMatMulCalls, simdKernelFused } from "../../src/backend/batch_matmul_wasm";

/** Products large enough to be split between threads. */
const SPLIT_CASES = [
  { a: [5, 64, 70], b: [5, 70, 64], ta: false, tb: false },
  { a: [1, 70, 203], b: [1, 40, 70], ta: true, tb: true },
  { a: [2, 3, 97, 33], b: [2, 3, 97, 33], ta: false, tb: true },
  // Single and untransposed, but from LARGE_SINGLE multiply-adds the SIMD kernel's (split by row tiles).
  { a: [300, 256], b: [256, 260], ta: false, tb: false },
];

/** op(A)·op(B) per batch in float64 loops, broadcasting a single matrix against a batch. */
function reference(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], ta: boolean, tb: boolean): { data: Float64Array; shape: number[] } {
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const M = ta ? ac : ar;
  const K = ta ? ar : ac;
  const N = tb ? br : bc;
  const batchA = aShape.slice(0, -2).reduce((p, q) => p * q, 1);
  const batchB = bShape.slice(0, -2).reduce((p, q) => p * q, 1);
  const batch = Math.max(batchA, batchB);
  const out = new Float64Array(batch * M * N);
  for (let p = 0; p < batch; p++) {
    const ao = (batchA === 1 ? 0 : p) * ar * ac;
    const bo = (batchB === 1 ? 0 : p) * br * bc;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[ao + (ta ? k * ac + i : i * ac + k)] * b[bo + (tb ? j * bc + k : k * bc + j)];
        out[(p * M + i) * N + j] = s;
      }
  }
  // Batch shapes broadcast right-aligned (here: equal, or one side all ones).
  const sa = aShape.slice(0, -2);
  const sb = bShape.slice(0, -2);
  const rank = Math.max(sa.length, sb.length);
  const dim = (s: number[], i: number) => s[i - (rank - s.length)] ?? 1;
  return { data: out, shape: [...Array.from({ length: rank }, (_, i) => Math.max(dim(sa, i), dim(sb, i))), M, N] };
}

test("wasm: batched and transposed matrix products (SIMD kernel) equal float64 loops", async () => {
  await initBackend("wasm");
  const rng = new Rng(5);
  const cases: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [];
  // Shapes that fill whole 4 × 8 tiles, shapes that need padding, k over several blocks of 128;
  // every transpose combination.
  for (const [M, K, N] of [
    [8, 16, 16],
    [5, 7, 3],
    [1, 1, 1],
    [13, 33, 9],
    [4, 0, 8],
    [6, 300, 10],
  ])
    for (const ta of [false, true])
      for (const tb of [false, true]) cases.push({ a: [3, ...(ta ? [K, M] : [M, K])], b: [3, ...(tb ? [N, K] : [K, N])], ta, tb });
  // Rank 4 (attention's [B, H, T, dh]), broadcasting one matrix against a batch, single products.
  cases.push({ a: [2, 3, 6, 5], b: [2, 3, 6, 5], ta: false, tb: true });
  cases.push({ a: [1, 6, 5], b: [4, 5, 7], ta: false, tb: false });
  cases.push({ a: [4, 6, 5], b: [1, 7, 5], ta: false, tb: true });
  cases.push({ a: [6, 5], b: [7, 5], ta: false, tb: true });
  cases.push({ a: [5, 6], b: [5, 7], ta: true, tb: false });
  // Large enough to be split between threads: by whole products (5 over 3 threads), by row
  // tiles of one product.
  cases.push(...SPLIT_CASES);
  assert.ok(300 * 256 * 260 >= LARGE_SINGLE, "the last split case is a large single product");
  cases.push({ a: [203, 70], b: [70, 40], ta: false, tb: false }); // single, untransposed, small: XNNPACK's
  const before = simdBatchMatMulCalls();
  for (const c of cases) {
    const a = Float32Array.from({ length: c.a.reduce((p, q) => p * q, 1) }, () => rng.normal());
    const b = Float32Array.from({ length: c.b.reduce((p, q) => p * q, 1) }, () => rng.normal());
    const want = reference(a, c.a, b, c.b, c.ta, c.tb);
    const t = tf.tidy(() => tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.ta, c.tb));
    const got = t.dataSync();
    const label = JSON.stringify(c);
    assert.deepEqual(t.shape, want.shape, label);
    t.dispose();
    assert.equal(got.length, want.data.length, label);
    for (let i = 0; i < got.length; i++)
      assert.ok(Math.abs(got[i] - want.data[i]) < 1e-4 * (1 + Math.abs(want.data[i])), `${label} [${i}]: ${got[i]} vs ${want.data[i]}`);
  }
  // Every case but the last (a small single product without transposes: XNNPACK's) ran the SIMD kernel.
  assert.equal(simdBatchMatMulCalls() - before, cases.length - 1);
});

test("wasm: attention-shaped gradients through the SIMD kernel equal the cpu backend's", async () => {
  const rng = new Rng(6);
  const q = Float32Array.from({ length: 2 * 3 * 9 * 4 }, () => rng.normal());
  const k = Float32Array.from({ length: 2 * 3 * 9 * 4 }, () => rng.normal());
  const run = async (backend: "cpu" | "wasm") => {
    await initBackend(backend);
    const grads = tf.tidy(() => {
      const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(tf.softmax(tf.matMul(x, y, false, true)), y)));
      return tf.grads(f)([tf.tensor(q, [2, 3, 9, 4]), tf.tensor(k, [2, 3, 9, 4])]);
    });
    const out = grads.map((g) => Float64Array.from(g.dataSync()));
    grads.forEach((g) => g.dispose());
    return out;
  };
  const cpu = await run("cpu");
  const wasm = await run("wasm");
  for (let g = 0; g < 2; g++)
    for (let i = 0; i < cpu[g].length; i++)
      assert.ok(Math.abs(cpu[g][i] - wasm[g][i]) < 1e-4 * (1 + Math.abs(cpu[g][i])), `grad ${g} [${i}]: ${wasm[g][i]} vs ${cpu[g][i]}`);
});

test("STEPAGENT_THREADS: a whole number ≥ 1, else a clear error; unset means the cores Node reports", () => {
  const saved = process.env.STEPAGENT_THREADS;
  try {
    process.env.STEPAGENT_THREADS = "2";
    assert.equal(kernelThreads(), 2);
    for (const bad of ["0", "1.5", "many"]) {
      process.env.STEPAGENT_THREADS = bad;
      assert.throws(() => kernelThreads(), new RegExp(`STEPAGENT_THREADS must be a whole number ≥ 1, got "${bad.replace(".", "\\.")}"`));
    }
    delete process.env.STEPAGENT_THREADS;
    assert.equal(kernelThreads(), os.availableParallelism());
  } finally {
    process.env.STEPAGENT_THREADS = saved;
  }
});

test("the kernel's results do not depend on the thread count: 3 threads here equal 1 thread in a child process, bit for bit", async () => {
  await initBackend("wasm");
  const script = `
    const { initBackend, tf } = require(${JSON.stringify(path.resolve(__dirname, "../../src/backend"))});
    const { Rng } = require(${JSON.stringify(path.resolve(__dirname, "../../src/core/rng"))});
    (async () => {
      await initBackend("wasm");
      const rng = new Rng(8);
      const out = [];
      for (const c of ${JSON.stringify(SPLIT_CASES)}) {
        const a = Float32Array.from({ length: c.a.reduce((p, q) => p * q, 1) }, () => rng.normal());
        const b = Float32Array.from({ length: c.b.reduce((p, q) => p * q, 1) }, () => rng.normal());
        const t = tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.ta, c.tb);
        out.push(Buffer.from(t.dataSync().buffer).toString("base64"));
      }
      process.stdout.write(JSON.stringify(out));
    })();`;
  const run = (threads: string) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { encoding: "utf8", env: { ...process.env, STEPAGENT_THREADS: threads } });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as string[];
  };
  const one = run("1");
  const three = run("3");
  assert.equal(one.length, SPLIT_CASES.length);
  assert.deepEqual(three, one);
  // And the same values as in this process (3 threads as well), so the child computed real products.
  const rng = new Rng(8);
  SPLIT_CASES.forEach((c, i) => {
    const a = Float32Array.from({ length: c.a.reduce((p, q) => p * q, 1) }, () => rng.normal());
    const b = Float32Array.from({ length: c.b.reduce((p, q) => p * q, 1) }, () => rng.normal());
    const t = tf.tidy(() => tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.ta, c.tb));
    assert.equal(Buffer.from(t.dataSync().buffer).toString("base64"), one[i]);
    t.dispose();
  });
});

test("with fused multiply-adds asked for (STEPAGENT_WASM_FMA=1) the kernel computes the same products to float rounding", async () => {
  await initBackend("wasm");
  const script = `
    const { initBackend, tf } = require(${JSON.stringify(path.resolve(__dirname, "../../src/backend"))});
    const { Rng } = require(${JSON.stringify(path.resolve(__dirname, "../../src/core/rng"))});
    const { simdKernelFused } = require(${JSON.stringify(path.resolve(__dirname, "../../src/backend/batch_matmul_wasm"))});
    (async () => {
      await initBackend("wasm");
      const rng = new Rng(9);
      const out = [];
      for (const c of ${JSON.stringify(SPLIT_CASES)}) {
        const a = Float32Array.from({ length: c.a.reduce((p, q) => p * q, 1) }, () => rng.normal());
        const b = Float32Array.from({ length: c.b.reduce((p, q) => p * q, 1) }, () => rng.normal());
        out.push(Array.from(tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.ta, c.tb).dataSync()));
      }
      process.stdout.write(JSON.stringify({ fused: simdKernelFused(), out }));
    })();`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], {
    encoding: "utf8",
    env: { ...process.env, STEPAGENT_WASM_FMA: "1" },
    maxBuffer: 1 << 26,
  });
  assert.equal(r.status, 0, r.stderr);
  const child = JSON.parse(r.stdout) as { fused: boolean; out: number[][] };
  // Relaxed SIMD compiles on Node 20 (V8 flag) whatever the CPU; without the variable the kernel is unfused.
  assert.equal(child.fused, true);
  assert.equal(simdKernelFused(), process.env.STEPAGENT_WASM_FMA === "1");
  const rng = new Rng(9);
  SPLIT_CASES.forEach((c, i) => {
    const a = Float32Array.from({ length: c.a.reduce((p, q) => p * q, 1) }, () => rng.normal());
    const b = Float32Array.from({ length: c.b.reduce((p, q) => p * q, 1) }, () => rng.normal());
    const want = reference(a, c.a, b, c.b, c.ta, c.tb).data;
    assert.equal(child.out[i].length, want.length);
    child.out[i].forEach((x, j) => assert.ok(Math.abs(x - want[j]) < 1e-4 * (1 + Math.abs(want[j])), `${JSON.stringify(c)} [${j}]: ${x} vs ${want[j]}`));
  });
});
