/**
 * Damped Newton (Levenberg–Marquardt) for small, smooth problems in float64.
 *
 * The exact (population) reflections are a small problem per state — A logits — so each state
 * is solved to round-off with second-order steps. This is an independent numerical route to the
 * cycle update: it minimises the objectives as written (DPO loss, logistic discriminator,
 * KL-regularised policy objective) and never uses the closed form.
 */

export interface SmoothProblem {
  readonly dim: number;
  /** Returns f(x); fills `grad` (dim) and `hess` (dim×dim, row-major). */
  evaluate(x: Float64Array, grad: Float64Array, hess: Float64Array): number;
  /** f(x) alone (for the line search); defaults to `evaluate`. */
  value?(x: Float64Array): number;
}

export interface NewtonOptions {
  maxIterations?: number;
  /** Converged when ‖∇f‖∞ ≤ gradTolerance and the last Newton step ≤ stepTolerance (∞-norm). */
  gradTolerance?: number;
  stepTolerance?: number;
  /**
   * Trust region: steps longer than this (∞-norm) are shortened. Softmax objectives flatten out
   * where a probability is near 0, and one long step can land there and stall; 2 nats is safe.
   */
  maxStep?: number;
}

export interface NewtonResult {
  x: Float64Array;
  value: number;
  gradNorm: number;
  iterations: number;
  converged: boolean;
}

/**
 * In-place Cholesky factorisation of the symmetric matrix `m` (n×n, row-major) plus `shift`·I.
 * Returns false when the shifted matrix is not positive definite.
 */
export function choleskyInPlace(m: Float64Array, n: number, shift = 0): boolean {
  for (let j = 0; j < n; j++) {
    let d = m[j * n + j] + shift;
    for (let k = 0; k < j; k++) d -= m[j * n + k] * m[j * n + k];
    if (!(d > 0)) return false;
    const ljj = Math.sqrt(d);
    m[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let v = m[i * n + j];
      for (let k = 0; k < j; k++) v -= m[i * n + k] * m[j * n + k];
      m[i * n + j] = v / ljj;
    }
  }
  return true;
}

/** Solves L Lᵀ x = b with the factor from `choleskyInPlace` (lower triangle used). */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array, out: Float64Array): Float64Array {
  for (let i = 0; i < n; i++) {
    let v = b[i];
    for (let k = 0; k < i; k++) v -= l[i * n + k] * out[k];
    out[i] = v / l[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let v = out[i];
    for (let k = i + 1; k < n; k++) v -= l[k * n + i] * out[k];
    out[i] = v / l[i * n + i];
  }
  return out;
}

export function minimiseNewton(problem: SmoothProblem, x0: ArrayLike<number>, options: NewtonOptions = {}): NewtonResult {
  const n = problem.dim;
  const maxIt = options.maxIterations ?? 200;
  const tol = options.gradTolerance ?? 1e-12;
  const stepTol = options.stepTolerance ?? 1e-13;
  const maxStep = options.maxStep ?? 2;
  const scratchG = new Float64Array(n);
  const scratchH = new Float64Array(n * n);
  const value = (x: Float64Array) => (problem.value ? problem.value(x) : problem.evaluate(x, scratchG, scratchH));
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  const h = new Float64Array(n * n);
  const fac = new Float64Array(n * n);
  const step = new Float64Array(n);
  const neg = new Float64Array(n);
  const trial = new Float64Array(n);
  let mu = 0;
  let f = problem.evaluate(x, g, h);
  let gnorm = maxAbs(g);
  let it = 0;
  let lastStep = Infinity;
  for (; it < maxIt && (gnorm > tol || lastStep > stepTol); it++) {
    // Levenberg–Marquardt shift: the smallest of 0, 1e-12·scale, ×10 … that makes H + μI positive definite.
    let scale = 0;
    for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(h[i * n + i]));
    scale = Math.max(scale, 1e-300);
    let shift = mu;
    for (;;) {
      fac.set(h);
      if (choleskyInPlace(fac, n, shift)) break;
      shift = shift === 0 ? 1e-12 * scale : shift * 10;
      if (shift > 1e12 * scale) throw new Error("minimiseNewton: could not regularise the Hessian");
    }
    for (let i = 0; i < n; i++) neg[i] = -g[i];
    choleskySolve(fac, n, neg, step);
    const len = maxAbs(step);
    if (len > maxStep) for (let i = 0; i < n; i++) step[i] *= maxStep / len;
    let slope = 0;
    for (let i = 0; i < n; i++) slope += g[i] * step[i];
    // Backtracking (Armijo) line search; a non-descent direction falls back to steepest descent.
    if (!(slope < 0)) {
      for (let i = 0; i < n; i++) step[i] = -g[i] / scale;
      slope = -dot(g, g) / scale;
    }
    let t = 1;
    // Near the minimum the predicted decrease drops below the round-off of f, where comparing
    // values says nothing: take the full Newton step (quadratic convergence does the rest).
    const trustNewton = -slope <= 1e-12 * Math.max(1, Math.abs(f));
    for (let ls = 0; ls < 60; ls++) {
      for (let i = 0; i < n; i++) trial[i] = x[i] + t * step[i];
      if (trustNewton || value(trial) <= f + 1e-4 * t * slope) break;
      t /= 2;
    }
    mu = t === 1 ? shift / 10 : Math.max(shift * 10, 1e-12 * scale);
    if (mu < 1e-15 * scale) mu = 0;
    let moved = 0;
    for (let i = 0; i < n; i++) {
      moved = Math.max(moved, Math.abs(trial[i] - x[i]));
      x[i] = trial[i];
    }
    f = problem.evaluate(x, g, h);
    gnorm = maxAbs(g);
    lastStep = moved;
    if (moved === 0) break;
  }
  return { x, value: f, gradNorm: gnorm, iterations: it, converged: gnorm <= tol };
}

function maxAbs(v: Float64Array): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
