import { test } from "node:test";
import assert from "node:assert/strict";
import { initBackend, tf, type BackendName } from "../../src/backend";
import { linear } from "../../src/optim/matmul";

for (const backend of ["wasm", "cpu"] as BackendName[]) {
  test(`${backend}: linear() has tf.matMul's value and gradients`, async () => {
    await initBackend(backend);
    const a = tf.randomNormal([7, 5], 0, 1, "float32", 1) as tf.Tensor2D;
    const b = tf.randomNormal([5, 3], 0, 1, "float32", 2) as tf.Tensor2D;
    const w = tf.randomNormal([7, 3], 0, 1, "float32", 3);
    const loss = (f: (x: tf.Tensor2D, y: tf.Tensor2D) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor2D, y as tf.Tensor2D), w));
    const [ga, gb] = tf.grads(loss(linear))([a, b]);
    const [ra, rb] = tf.grads(loss((x, y) => tf.matMul(x, y)))([a, b]);
    const close = (x: tf.Tensor, y: tf.Tensor) => {
      const [xs, ys] = [x.dataSync(), y.dataSync()];
      for (let i = 0; i < xs.length; i++) assert.ok(Math.abs(xs[i] - ys[i]) < 1e-5, `${xs[i]} vs ${ys[i]}`);
    };
    close(linear(a, b), tf.matMul(a, b));
    close(ga, ra);
    close(gb, rb);
  });
}
