/**
 * A SIMD `BatchMatMul` for the wasm backend, for the products XNNPACK does not take.
 *
 * tfjs-backend-wasm 4.22 sends a matrix product to XNNPACK only when it is a single product with
 * no transposed operand; every batched product (attention's Q·Kᵀ and P·V, and their gradients)
 * and every transposed one runs a scalar triple loop instead. Measured here (2 cores, no wasm
 * threads): [128×100×32]·[128×32×100] takes ≈ 42 ms (≈ 2 GFLOP/s); a 2-D product through XNNPACK
 * runs at ≈ 20 GFLOP/s.
 *
 * This kernel is a register-blocked product written in WebAssembly text (assembled at start-up
 * with wabt): each inner step multiplies 4 rows of A by 8 columns of B with 128-bit SIMD (8
 * accumulators, no spills), optionally as fused multiply-adds (STEPAGENT_WASM_FMA=1, relaxed
 * SIMD: ≈ 10% faster here). Operands are copied from tfjs's heap into this module's own memory:
 * A as it is (a transposed A is read in place: its 4 rows are 4 adjacent floats of one stored
 * row), B transposed there when the op asks for it and its rows padded to whole 8-column tiles.
 * Padding is never cleared: C[i, j] reads only row i of A and column j of B, so whatever lies in
 * a padded row or column reaches only padded outputs, which are not copied back. Sums run over k
 * in order, as the scalar loop's do, so results agree with it to float rounding.
 *
 * The memory is shared with helper threads (worker_threads; `STEPAGENT_THREADS`, default: the
 * cores Node reports), each running the same module on it: a product is split into parts (runs
 * of whole products or of row tiles, a few per thread) that the threads take in turn from a shared
 * queue, and this thread waits for its helpers (Atomics) before copying C back. Every element of C is computed by the same instructions however the product is split, so
 * results do not depend on the thread count (tested bit for bit against one thread). Small single
 * products without transposes stay with XNNPACK; large ones (LARGE_SINGLE) come here too.
 */
import * as os from "node:os";
import * as v8 from "node:v8";
import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import { overrideWasmKernel, type WasmBackend } from "./wasm_heap";

const ROWS = 4;
const COLS = 8;

/**
 * One 4 × 8 tile loop. `transposedA`: A is stored k-major (element (i, k) at a + (k·m + i)·4,
 * so the 4 rows of a step are one 16-byte load); otherwise row-major (at a + (i·k + k)·4).
 */
function tileLoop(transposedA: boolean, fused: boolean): string {
  const loadA = transposedA
    ? `(local.set $av (v128.load (local.get $ap)))
            (local.set $a0 (f32x4.splat (f32x4.extract_lane 0 (local.get $av))))
            (local.set $a1 (f32x4.splat (f32x4.extract_lane 1 (local.get $av))))
            (local.set $a2 (f32x4.splat (f32x4.extract_lane 2 (local.get $av))))
            (local.set $a3 (f32x4.splat (f32x4.extract_lane 3 (local.get $av))))`
    : `(local.set $a0 (f32x4.splat (f32.load (local.get $ap))))
            (local.set $a1 (f32x4.splat (f32.load (i32.add (local.get $ap) (local.get $krow)))))
            (local.set $a2 (f32x4.splat (f32.load (i32.add (local.get $ap) (i32.shl (local.get $krow) (i32.const 1))))))
            (local.set $a3 (f32x4.splat (f32.load (i32.add (local.get $ap) (i32.mul (local.get $krow) (i32.const 3))))))`;
  // Where row i starts, and how far one step of k moves, in A.
  const rowStart = transposedA ? "(i32.shl (local.get $i) (i32.const 2))" : "(i32.mul (local.get $i) (local.get $krow))";
  const kStep = transposedA ? "(local.get $lda)" : "(i32.const 4)";
  const fma = (c: string, a: string, b: string) =>
    fused
      ? `(local.set ${c} (f32x4.relaxed_madd (local.get ${a}) (local.get ${b}) (local.get ${c})))`
      : `(local.set ${c} (f32x4.add (local.get ${c}) (f32x4.mul (local.get ${a}) (local.get ${b}))))`;
  // The first block of k starts the tile at zero, later blocks add to what C holds.
  const start = (r: number) =>
    `(if (local.get $k0)
            (then (local.set $c${r}0 (v128.load (local.get $cp))) (local.set $c${r}1 (v128.load offset=16 (local.get $cp))))
            (else (local.set $c${r}0 (v128.const i32x4 0 0 0 0)) (local.set $c${r}1 (v128.const i32x4 0 0 0 0))))
          (local.set $cp (i32.add (local.get $cp) (local.get $nrow)))`;
  const store = (r: number) =>
    `${r ? "(local.set $cp (i32.add (local.get $cp) (local.get $nrow)))" : ""}
          (v128.store (local.get $cp) (local.get $c${r}0))
          (v128.store offset=16 (local.get $cp) (local.get $c${r}1))`;
  return `(local.set $i (i32.const 0))
      (block $endi (loop $li
        (br_if $endi (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $j (i32.const 0))
        (block $endj (loop $lj
          (br_if $endj (i32.ge_u (local.get $j) (local.get $n)))
          (local.set $cp (i32.add (local.get $c) (i32.add (i32.mul (local.get $i) (local.get $nrow)) (i32.shl (local.get $j) (i32.const 2)))))
          ${[0, 1, 2, 3].map(start).join("\n          ")}
          (local.set $ap (i32.add (i32.add (local.get $abase) ${rowStart}) (i32.mul (local.get $k0) ${kStep})))
          (local.set $bp (i32.add (i32.add (local.get $bbase) (i32.shl (local.get $j) (i32.const 2))) (i32.mul (local.get $k0) (local.get $nrow))))
          (local.set $kk (local.get $kn))
          (block $endk (loop $lk
            (br_if $endk (i32.eqz (local.get $kk)))
            (local.set $b0 (v128.load (local.get $bp)))
            (local.set $b1 (v128.load offset=16 (local.get $bp)))
            ${loadA}
            ${[0, 1, 2, 3].map((r) => `${fma(`$c${r}0`, `$a${r}`, "$b0")} ${fma(`$c${r}1`, `$a${r}`, "$b1")}`).join("\n            ")}
            (local.set $ap (i32.add (local.get $ap) ${kStep}))
            (local.set $bp (i32.add (local.get $bp) (local.get $nrow)))
            (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
            (br $lk)))
          (local.set $cp (i32.add (local.get $c) (i32.add (i32.mul (local.get $i) (local.get $nrow)) (i32.shl (local.get $j) (i32.const 2)))))
          ${[0, 1, 2, 3].map(store).join("\n          ")}
          (local.set $j (i32.add (local.get $j) (i32.const ${COLS})))
          (br $lj)))
        (local.set $i (i32.add (local.get $i) (i32.const ${ROWS})))
        (br $li)))`;
}

/** The shared memory's limit (1 GiB); a product that needs more goes to tfjs's kernel. */
const MAX_PAGES = 16384;

/** Rows of B (values of k) per pass over C: a block of B stays in cache while every tile uses it. */
const K_BLOCK = 128;

/**
 * bmm(a, b, c, batch, m, k, n, sa, sb, lda, ta): for each of `batch` products, C (m × n) =
 * A (m × k) · B (k × n), f32 at byte addresses a, b, c; m a multiple of 4 (rows past the real
 * ones are computed and ignored), n of 8. B and C are row-major with rows of n; A is row-major
 * (ta = 0) or stored k-major with rows of lda bytes (ta = 1). A and B advance by sa and sb bytes
 * per product (0: one operand for every product, i.e. broadcast); C by m·n·4.
 */
const wat = (fused: boolean) => `(module
  (import "env" "memory" (memory 1 ${MAX_PAGES} shared))
  (func (export "bmm") (param $a i32) (param $b i32) (param $c i32) (param $batch i32)
        (param $m i32) (param $k i32) (param $n i32) (param $sa i32) (param $sb i32) (param $lda i32) (param $ta i32)
    (local $p i32) (local $i i32) (local $j i32) (local $kk i32) (local $k0 i32) (local $kn i32)
    (local $abase i32) (local $bbase i32) (local $ap i32) (local $bp i32) (local $cp i32)
    (local $krow i32) (local $nrow i32)
    (local $av v128) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $b0 v128) (local $b1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $krow (i32.shl (local.get $k) (i32.const 2)))
    (local.set $nrow (i32.shl (local.get $n) (i32.const 2)))
    (local.set $abase (local.get $a))
    (local.set $bbase (local.get $b))
    (block $endp (loop $lp
      (br_if $endp (i32.ge_u (local.get $p) (local.get $batch)))
      ;; k in blocks of ${K_BLOCK}: [$k0, $k0 + $kn). With k = 0, one pass that writes zeros.
      (local.set $k0 (i32.const 0))
      (block $endkb (loop $lkb
        (local.set $kn (i32.sub (local.get $k) (local.get $k0)))
        (if (i32.gt_u (local.get $kn) (i32.const ${K_BLOCK})) (then (local.set $kn (i32.const ${K_BLOCK}))))
        (if (local.get $ta)
          (then ${tileLoop(true, fused)})
          (else ${tileLoop(false, fused)}))
        (local.set $k0 (i32.add (local.get $k0) (local.get $kn)))
        (br_if $lkb (i32.lt_u (local.get $k0) (local.get $k)))))
      (local.set $abase (i32.add (local.get $abase) (local.get $sa)))
      (local.set $bbase (i32.add (local.get $bbase) (local.get $sb)))
      (local.set $c (i32.add (local.get $c) (i32.mul (local.get $m) (local.get $nrow))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $lp)))))`;

/** The parts of the WebAssembly API used here (the project's TS lib has no DOM/WebAssembly types). */
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}
type WasmModule = object;
const WebAssemblyApi = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
      Module: new (bytes: Uint8Array) => WasmModule;
      validate(bytes: Uint8Array): boolean;
      Instance: new (m: WasmModule, imports: object) => { exports: Record<string, unknown> };
    };
  }
).WebAssembly;

type Bmm = (a: number, b: number, c: number, batch: number, m: number, k: number, n: number, sa: number, sb: number, lda: number, ta: number) => void;

interface Kernel {
  memory: WasmMemory;
  bmm: Bmm;
  /** Helper threads sharing the memory; each product is split between them and this thread. */
  workers: { control: Int32Array; thread: Worker }[];
  /** The parts of the product in progress (see WORKER). */
  queue: Int32Array;
  /** Whether the products use fused multiply-adds (relaxed SIMD). */
  fused: boolean;
}

/** bmm's argument count, and parts per thread a product is split into where it is split. */
const ARGS = 11;
const PARTS_PER_THREAD = 4;

/**
 * A helper thread: instantiates the same module on the same memory, then waits for jobs. Control
 * block (Int32Array): [0] job number, [12] last job done (−job if it failed). A job takes parts
 * from the shared queue (Int32Array: [0] next part, [1] parts, then bmm's arguments per part)
 * until none is left, as every thread of the job does: a thread that the machine's other work
 * slows down takes fewer parts instead of holding the others up. Helpers are unref'd: they never
 * keep the process alive.
 */
const WORKER = `
const { workerData } = require("node:worker_threads");
const { module, memory, control, queue } = workerData;
const bmm = new WebAssembly.Instance(module, { env: { memory } }).exports.bmm;
const ctl = new Int32Array(control);
const q = new Int32Array(queue);
let seen = 0;
for (;;) {
  Atomics.wait(ctl, 0, seen);
  seen = Atomics.load(ctl, 0);
  let done = seen;
  try {
    const n = Atomics.load(q, 1);
    for (let i; (i = Atomics.add(q, 0, 1)) < n; ) {
      const o = 2 + ${ARGS} * i;
      bmm(q[o], q[o + 1], q[o + 2], q[o + 3], q[o + 4], q[o + 5], q[o + 6], q[o + 7], q[o + 8], q[o + 9], q[o + 10]);
    }
  } catch (e) { done = -seen; }
  Atomics.store(ctl, 12, done);
  Atomics.notify(ctl, 12);
}`;

let kernel: Kernel | null = null;
let calls = 0;

/** Whether the loaded kernel uses fused multiply-adds (null before it loads). */
export function simdKernelFused(): boolean | null {
  return kernel ? kernel.fused : null;
}

/** How many products the SIMD kernel has computed in this process (for tests: proof it ran). */
export function simdBatchMatMulCalls(): number {
  return calls;
}

/** STEPAGENT_WASM_FMA: "1" asks for fused multiply-adds, "0" or unset not; anything else is an error. */
export function fmaRequested(): boolean {
  const fma = process.env.STEPAGENT_WASM_FMA;
  if (fma !== undefined && fma !== "0" && fma !== "1") throw new Error(`STEPAGENT_WASM_FMA must be 0 or 1, got ${JSON.stringify(fma)}`);
  return fma === "1";
}

/**
 * Threads the kernel uses: STEPAGENT_THREADS if set (≥ 1), else the cores Node reports. One
 * thread is this one; the others are worker threads started with the kernel.
 */
export function kernelThreads(): number {
  const env = process.env.STEPAGENT_THREADS;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`STEPAGENT_THREADS must be a whole number ≥ 1, got ${JSON.stringify(env)}`);
    return n;
  }
  return Math.max(1, os.availableParallelism());
}

/** Assembles the kernel and starts its helper threads (once per process). */
export async function loadBatchMatMulKernel(): Promise<Kernel> {
  if (kernel) return kernel;
  type Wabt = { parseWat(name: string, text: string, features?: Record<string, boolean>): { toBinary(o: object): { buffer: Uint8Array }; destroy(): void } };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wabt = await (require("wabt") as () => Promise<Wabt>)();
  const assemble = (fused: boolean) => {
    const parsed = wabt.parseWat("batch_matmul.wat", wat(fused), { simd: true, threads: true, relaxed_simd: fused });
    try {
      return parsed.toBinary({}).buffer;
    } finally {
      parsed.destroy();
    }
  };
  const memory = new WebAssemblyApi.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  // Compiled straight to optimised code: V8 otherwise starts with its baseline compiler and
  // tiers up per thread, and a helper thread ran its half ≈ 1.8× slower than this thread did.
  const compile = (bytes: Uint8Array): WasmModule => {
    v8.setFlagsFromString("--no-liftoff");
    try {
      return new WebAssemblyApi.Module(bytes);
    } finally {
      v8.setFlagsFromString("--liftoff");
    }
  };
  // Fused multiply-adds (relaxed SIMD's f32x4.relaxed_madd) only when asked for: relaxed_madd
  // fuses on CPUs with FMA and rounds twice on others, so the same seed would give different
  // numbers on different machines (and does change seeded training runs against unfused products).
  // Node 20 needs V8's flag for relaxed SIMD; where it cannot be compiled, separate multiplies and adds.
  let module: WasmModule;
  let fused = fmaRequested();
  try {
    if (!fused) throw new Error("not asked for");
    const bytes = assemble(true);
    if (!WebAssemblyApi.validate(bytes)) v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
    module = compile(bytes);
  } catch {
    fused = false;
    module = compile(assemble(false));
  }
  const bmm = new WebAssemblyApi.Instance(module, { env: { memory } }).exports.bmm as Bmm;
  const queue = new SharedArrayBuffer(4 * (2 + ARGS * PARTS_PER_THREAD * kernelThreads()));
  const workers = Array.from({ length: kernelThreads() - 1 }, () => {
    const control = new SharedArrayBuffer(16 * 4);
    const thread = new Worker(WORKER, { eval: true, workerData: { module, memory, control, queue } });
    thread.unref(); // idle helpers never keep the process alive
    return { control: new Int32Array(control), thread };
  });
  kernel = { memory, bmm, workers, queue: new Int32Array(queue), fused };
  return kernel;
}

/**
 * Runs bmm's parts (whole argument lists that write disjoint parts of C) on this thread and the
 * helpers, each taking the next part from the shared queue, and waits for all.
 */
function runParts(k: Kernel, parts: Parameters<Bmm>[]): void {
  if (parts.length === 1) {
    k.bmm(...parts[0]);
    return;
  }
  const q = k.queue;
  parts.forEach((args, i) => q.set(args, 2 + ARGS * i));
  Atomics.store(q, 1, parts.length);
  Atomics.store(q, 0, 0);
  const jobs = k.workers.slice(0, parts.length - 1).map(({ control: ctl }) => {
    const job = (Atomics.load(ctl, 0) + 1) & 0x3fffffff || 1;
    Atomics.store(ctl, 0, job);
    Atomics.notify(ctl, 0);
    return { ctl, job };
  });
  for (let i; (i = Atomics.add(q, 0, 1)) < parts.length;) k.bmm(...parts[i]);
  for (const { ctl, job } of jobs)
    for (;;) {
      const done = Atomics.load(ctl, 12);
      if (done === job) break;
      if (done === -job) throw new Error("batch matmul: a helper thread failed");
      Atomics.wait(ctl, 12, done);
    }
}

const roundUp = (x: number, to: number) => Math.ceil(x / to) * to;
const product = (xs: number[]) => xs.reduce((p, q) => p * q, 1);

/**
 * Copies `batch` matrices from `src` (each `rows × cols` row-major, or `cols × rows` when
 * `transposed`) into `dst` as `rows × colsPad` row-major. Padding columns are left as they are.
 */
function packB(src: Float32Array, dst: Float32Array, batch: number, rows: number, cols: number, colsPad: number, transposed: boolean): void {
  if (!transposed && cols === colsPad) {
    dst.set(src.subarray(0, batch * rows * cols));
    return;
  }
  for (let p = 0; p < batch; p++) {
    const s = p * rows * cols;
    const d = p * rows * colsPad;
    if (!transposed) for (let r = 0; r < rows; r++) dst.set(src.subarray(s + r * cols, s + (r + 1) * cols), d + r * colsPad);
    else
      for (let c = 0; c < cols; c++) {
        const row = s + c * rows; // stored row c is column c of the logical matrix
        for (let r = 0; r < rows; r++) dst[d + r * colsPad + c] = src[row + r];
      }
  }
}

/**
 * Multiply-adds from which a single product without transposes comes to this kernel rather than
 * XNNPACK: the dense layers of a GPT-2-small-sized model on a batch of tokens (768 × 768 on 32
 * rows and up), where splitting it between threads pays for the copies in and out.
 */
export const LARGE_SINGLE = 1 << 24;

/** Multiply-adds below which a product is not split between threads (it would cost more than it saves). */
const PARALLEL_MIN = 1 << 18;

/**
 * C = op(A)·op(B) over the batch dimensions on `k` (a loaded kernel), reading and writing tfjs
 * wasm tensors. Returns null when the product is one this kernel leaves to tfjs: a single product
 * without transposes below LARGE_SINGLE (XNNPACK's), non-float32 operands, batch shapes that broadcast other than
 * "equal" or "one side has a single matrix", or operands too large for the kernel's memory.
 */
export function batchMatMulSimd(
  k: Kernel,
  backend: unknown,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): tf.TensorInfo | null {
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) return null;
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  const batchA = product(batchShapeA);
  const batchB = product(batchShapeB);
  const sameBatch = batchShapeA.length === batchShapeB.length && batchShapeA.every((d, i) => d === batchShapeB[i]);
  if (!sameBatch && batchA !== 1 && batchB !== 1) return null;
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transposeA ? ac : ar;
  const K = transposeA ? ar : ac;
  const N = transposeB ? br : bc;
  if ((transposeB ? bc : br) !== K) return null; // tfjs's own kernel reports the mismatch
  // A small single product without transposes stays with XNNPACK (single-threaded here, and faster
  // than this kernel on one thread); a large one comes here, where the helper threads share it.
  // The choice depends on the size alone, never on the thread count, so that which code computes
  // a product (and so its rounding) never depends on the machine's cores.
  if (batchA === 1 && batchB === 1 && !transposeA && !transposeB && M * K * N < LARGE_SINGLE) return null;
  const batch = Math.max(batchA, batchB);
  const Mp = roundUp(M, ROWS);
  const Np = roundUp(N, COLS);
  // A as stored, plus room for the rows past M that the last tile reads (their results are dropped).
  const aFloats = batchA * M * K + (ROWS - 1) * Math.max(K, M);
  const bFloats = batchB * K * Np;
  const cFloats = batch * Mp * Np;
  const bytes = 4 * (aFloats + bFloats + cFloats);
  if (bytes > MAX_PAGES * 65536) return null;
  const w = backend as WasmBackend;
  const out = w.makeOutput([...tf.backend_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB), M, N], "float32");
  calls++;
  if (M === 0 || N === 0 || batch === 0) return out;
  if (k.memory.buffer.byteLength < bytes) k.memory.grow(Math.ceil((bytes - k.memory.buffer.byteLength) / 65536));
  const heap = new Float32Array(k.memory.buffer);
  // Views of tfjs's heap are taken after makeOutput (allocating may move it).
  heap.set((w.typedArrayFromHeap(a) as Float32Array).subarray(0, batchA * M * K));
  packB(w.typedArrayFromHeap(b) as Float32Array, heap.subarray(aFloats, aFloats + bFloats), batchB, K, N, Np, transposeB);
  runParts(
    k,
    split(
      k.workers.length + 1,
      0,
      4 * aFloats,
      4 * (aFloats + bFloats),
      batch,
      M,
      Mp,
      K,
      Np,
      batchA === 1 ? 0 : 4 * M * K,
      batchB === 1 ? 0 : 4 * K * Np,
      transposeA,
    ),
  );
  const c = heap.subarray(aFloats + bFloats, aFloats + bFloats + cFloats);
  const o = w.typedArrayFromHeap(out) as Float32Array;
  if (Np === N) for (let p = 0; p < batch; p++) o.set(c.subarray(p * Mp * N, p * Mp * N + M * N), p * M * N);
  else for (let p = 0; p < batch; p++) for (let r = 0; r < M; r++) o.set(c.subarray((p * Mp + r) * Np, (p * Mp + r) * Np + N), (p * M + r) * N);
  return out;
}

/**
 * Splits a product into ≤ PARTS_PER_THREAD · `threads` argument lists for bmm that write disjoint
 * parts of C: runs of whole products when there are at least as many as threads, else (a single
 * product) runs of tiles of 4 rows. Small products, and a few products fewer than the threads,
 * are not split.
 */
function split(
  threads: number,
  a: number,
  b: number,
  c: number,
  batch: number,
  M: number,
  Mp: number,
  K: number,
  Np: number,
  sa: number,
  sb: number,
  transposeA: boolean,
): Parameters<Bmm>[] {
  const whole = (at: number, count: number): Parameters<Bmm> => [
    a + at * sa,
    b + at * sb,
    c + at * Mp * Np * 4,
    count,
    Mp,
    K,
    Np,
    sa,
    sb,
    4 * M,
    transposeA ? 1 : 0,
  ];
  if (threads === 1 || batch * Mp * K * Np < PARALLEL_MIN) return [whole(0, batch)];
  const n = PARTS_PER_THREAD * threads;
  if (batch >= threads) {
    const parts: Parameters<Bmm>[] = [];
    for (let t = 0; t < n; t++) {
      const from = Math.floor((t * batch) / n);
      const to = Math.floor(((t + 1) * batch) / n);
      if (to > from) parts.push(whole(from, to - from));
    }
    return parts;
  }
  if (batch !== 1) return [whole(0, batch)];
  // One product: rows in whole tiles; rows r.. of A start r·K floats in (r floats when stored k-major).
  const tiles = Mp / ROWS;
  const parts: Parameters<Bmm>[] = [];
  for (let t = 0; t < n; t++) {
    const from = Math.floor((t * tiles) / n) * ROWS;
    const to = Math.floor(((t + 1) * tiles) / n) * ROWS;
    if (to > from) parts.push([a + (transposeA ? from : from * K) * 4, b, c + from * Np * 4, 1, to - from, K, Np, 0, 0, 4 * M, transposeA ? 1 : 0]);
  }
  return parts;
}

/**
 * Replaces the wasm backend's BatchMatMul with one that sends batched and transposed products to
 * the SIMD kernel and everything else to tfjs's own kernel (kept for those).
 */
export async function registerWasmBatchMatMul(): Promise<void> {
  const k = await loadBatchMatMulKernel();
  overrideWasmKernel("BatchMatMul", ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    return batchMatMulSimd(k, backend, a, b, !!transposeA, !!transposeB);
  });
}
