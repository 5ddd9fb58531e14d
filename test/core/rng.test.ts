import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";

test("same seed gives the same stream; different seeds differ", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const xa = Array.from({ length: 100 }, () => a.uniform());
  const xb = Array.from({ length: 100 }, () => b.uniform());
  const xc = Array.from({ length: 100 }, () => c.uniform());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
  for (const x of xa) assert.ok(x >= 0 && x < 1);
});

test("fork depends on the seed and label only, not on draws made before", () => {
  const a = new Rng(7);
  const b = new Rng(7);
  for (let i = 0; i < 50; i++) b.uniform();
  assert.equal(a.fork("x").uniform(), b.fork("x").uniform());
  assert.notEqual(a.fork("x").uniform(), a.fork("y").uniform());
});

test("categorical frequencies match the probabilities (chi-square, 3 dof)", () => {
  const rng = new Rng(1);
  const p = [0.1, 0.2, 0.3, 0.4];
  const n = 200_000;
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) counts[rng.categorical(p)]++;
  const chi2 = counts.reduce((acc, c, i) => acc + (c - n * p[i]) ** 2 / (n * p[i]), 0);
  // 99.9% quantile of chi-square with 3 degrees of freedom is 16.27.
  assert.ok(chi2 < 16.27, `chi2 = ${chi2}`);
});

test("normal draws have mean 0 and variance 1 within 5 standard errors", () => {
  const rng = new Rng(3);
  const n = 100_000;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const x = rng.normal();
    s += x;
    s2 += x * x;
  }
  const mean = s / n;
  const variance = s2 / n - mean * mean;
  assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance}`);
});

test("dirichlet draws lie on the simplex and gamma has mean = shape", () => {
  const rng = new Rng(5);
  for (let i = 0; i < 100; i++) {
    const d = rng.dirichlet(4, 1);
    assert.ok(Math.abs(d.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    for (const x of d) assert.ok(x >= 0);
  }
  const n = 50_000;
  for (const shape of [0.5, 2.5]) {
    let s = 0;
    for (let i = 0; i < n; i++) s += rng.gamma(shape);
    // Var = shape, so the standard error of the mean is sqrt(shape/n).
    assert.ok(Math.abs(s / n - shape) < 5 * Math.sqrt(shape / n), `gamma(${shape}) mean ${s / n}`);
  }
});
