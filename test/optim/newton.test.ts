import { test } from "node:test";
import assert from "node:assert/strict";
import { minimiseNewton, choleskyInPlace, choleskySolve } from "../../src/optim/newton";
import { softplus, sigmoid } from "../../src/optim/scalar";

test("Cholesky solve matches a hand-computed 3×3 system", () => {
  // M = [[4,2,0],[2,5,1],[0,1,3]], x = [1,-2,3] → b = M x = [0,-5,7]
  const m = Float64Array.from([4, 2, 0, 2, 5, 1, 0, 1, 3]);
  assert.ok(choleskyInPlace(m, 3));
  const x = choleskySolve(m, 3, Float64Array.from([0, -5, 7]), new Float64Array(3));
  assert.ok(Math.abs(x[0] - 1) < 1e-14 && Math.abs(x[1] + 2) < 1e-14 && Math.abs(x[2] - 3) < 1e-14, String(x));
  assert.equal(choleskyInPlace(Float64Array.from([1, 2, 2, 1]), 2), false);
});

test("Newton finds the closed-form minimiser of a 1-D logistic loss", () => {
  // f(φ) = P softplus(−φ) + N softplus(φ) has its minimum at φ = log(P/N).
  const P = 0.3;
  const N = 0.05;
  const res = minimiseNewton(
    {
      dim: 1,
      evaluate(x, g, h) {
        g[0] = -P * sigmoid(-x[0]) + N * sigmoid(x[0]);
        h[0] = (P + N) * sigmoid(x[0]) * sigmoid(-x[0]);
        return P * softplus(-x[0]) + N * softplus(x[0]);
      },
    },
    [0],
  );
  assert.ok(res.converged);
  assert.ok(Math.abs(res.x[0] - Math.log(P / N)) < 1e-13, `${res.x[0]} vs ${Math.log(P / N)}`);
});

test("Newton handles a non-convex start (Rosenbrock) and reaches (1, 1)", () => {
  const res = minimiseNewton(
    {
      dim: 2,
      evaluate(x, g, h) {
        const [a, b] = x;
        g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
        g[1] = 200 * (b - a * a);
        h[0] = 2 - 400 * (b - a * a) + 800 * a * a;
        h[1] = h[2] = -400 * a;
        h[3] = 200;
        return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
      },
    },
    [-1.2, 1],
    { maxIterations: 500 },
  );
  assert.ok(res.converged, JSON.stringify(res));
  assert.ok(Math.abs(res.x[0] - 1) < 1e-10 && Math.abs(res.x[1] - 1) < 1e-10);
});

test("softplus and sigmoid are stable at extreme arguments", () => {
  assert.equal(softplus(1000), 1000);
  assert.ok(softplus(-1000) >= 0 && softplus(-1000) < 1e-300);
  assert.ok(Math.abs(softplus(0) - Math.log(2)) < 1e-16);
  assert.equal(sigmoid(1000), 1);
  assert.equal(sigmoid(-1000), 0);
  assert.ok(Math.abs(sigmoid(0.3) + sigmoid(-0.3) - 1) < 1e-16);
});
