import { initBackend, tf } from "./src/backend";
(async () => {
  await initBackend(process.argv[2] as any);
  const time = (label: string, flops: number, f: () => tf.Tensor) => { f().dispose(); const t0 = performance.now(); for (let i = 0; i < 5; i++) f().dispose(); const ms = (performance.now() - t0) / 5; console.log(label.padEnd(34), ms.toFixed(2), "ms", (flops / ms / 1e6).toFixed(2), "GFLOP/s"); };
  const a = tf.randomNormal([2048, 64]); const b = tf.randomNormal([64, 256]); const bt = tf.randomNormal([256, 64]); const c = tf.randomNormal([2048, 256]);
  const F = 2 * 2048 * 64 * 256;
  time("A·B", F, () => tf.matMul(a, b));
  time("A·Bt^T (transposeB)", F, () => tf.matMul(a, bt, false, true));
  time("A^T·C (transposeA)", F, () => tf.matMul(a, c, true, false));
  time("C·B^T (transposeB)", F, () => tf.matMul(c, b, false, true));
  const q = tf.randomNormal([64, 2, 32, 32]);
  time("batched q·k^T [64,2,32,32]", 2 * 128 * 32 * 32 * 32, () => tf.matMul(q, q, false, true));
  time("batched q·k [64,2,32,32]", 2 * 128 * 32 * 32 * 32, () => tf.matMul(q, q));
  time("batched q^T·k [64,2,32,32]", 2 * 128 * 32 * 32 * 32, () => tf.matMul(q, q, true, false));
})();
