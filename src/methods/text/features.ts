/**
 * Hashed bag-of-words features of text, and ridge regression on them: the step discriminator's
 * features, and the learned state baselines of stepagent-inverse (one proposal per state) and of
 * outcome PPO (its value function). Small, deterministic, and in float64.
 */
import { choleskyInPlace, choleskySolve } from "../../optim/newton";

/** Number of hash buckets. */
export const FEATURE_DIM = 1 << 14;

/** Lower-case words and digit runs. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+|\d+/g) ?? [];
}

/** FNV-1a of `key`, reduced to a bucket in [0, FEATURE_DIM). */
export function hashFeature(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % FEATURE_DIM;
}

/** The buckets of a state's words (presence, each bucket once): the features of a state baseline, which never sees an action. */
export function stateFeatures(state: string): number[] {
  return [...new Set(words(state).map((w) => hashFeature(`s:${w}`)))];
}

/** A fitted ridge regression: f(x) = b + Σ_{i ∈ x} w_i on sparse rows (a bucket listed twice counts twice). */
export interface RidgeModel {
  intercept: number;
  /** Weight of each bucket that occurred in the fit (others are 0). */
  weights: Map<number, number>;
  predict(row: number[]): number;
}

/**
 * min_{w, b} Σ_i (y_i − b − x_iᵀw)² + λ‖w‖², the intercept b unpenalised (so a constant target
 * is fit exactly whatever λ), on sparse count rows x_i. Only the p buckets that occur matter (the
 * others' weights are 0); with centred X_c and ȳ the solution is w = (X_cᵀX_c + λI)⁻¹X_cᵀ(y − ȳ),
 * b = ȳ − μᵀw, solved in that p×p form when p ≤ m rows, else in the m×m dual form
 * w = X_cᵀ(X_cX_cᵀ + λI)⁻¹(y − ȳ) (the same w). λ must be > 0. No rows: f ≡ 0.
 */
export function ridgeFit(rows: number[][], y: number[], lambda: number): RidgeModel {
  if (!(lambda > 0)) throw new Error(`ridgeFit: the penalty λ must be > 0, got ${lambda}`);
  if (rows.length !== y.length) throw new Error(`ridgeFit: ${rows.length} rows but ${y.length} targets`);
  const m = rows.length;
  const weights = new Map<number, number>();
  if (m === 0) return model(0, weights);
  const col = new Map<number, number>();
  const sparse = rows.map((r) => {
    const counts = new Map<number, number>();
    for (const i of r) {
      if (!col.has(i)) col.set(i, col.size);
      const c = col.get(i)!;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    return counts;
  });
  const p = col.size;
  const yMean = y.reduce((a, b) => a + b, 0) / m;
  const yc = y.map((v) => v - yMean);
  const mu = new Float64Array(p);
  for (const r of sparse) for (const [c, v] of r) mu[c] += v / m;
  let w: Float64Array;
  if (p <= m) {
    // (XᵀX − m μμᵀ + λI) w = Xᵀ(y − ȳ): the centred normal equations (Σ(y − ȳ) = 0 drops μ from the right side).
    const a = new Float64Array(p * p);
    const rhs = new Float64Array(p);
    sparse.forEach((r, k) => {
      for (const [i, vi] of r) {
        rhs[i] += vi * yc[k];
        for (const [j, vj] of r) a[i * p + j] += vi * vj;
      }
    });
    for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) a[i * p + j] += (i === j ? lambda : 0) - m * mu[i] * mu[j];
    w = solveSpd(a, rhs, p);
  } else {
    // Dual: the centred Gram matrix K_c = (I − 11ᵀ/m) X Xᵀ (I − 11ᵀ/m); α = (K_c + λI)⁻¹(y − ȳ); w = X_cᵀα.
    const k = new Float64Array(m * m);
    for (let i = 0; i < m; i++)
      for (let j = 0; j <= i; j++) {
        const [small, large] = sparse[i].size <= sparse[j].size ? [sparse[i], sparse[j]] : [sparse[j], sparse[i]];
        let dot = 0;
        for (const [c, v] of small) dot += v * (large.get(c) ?? 0);
        k[i * m + j] = k[j * m + i] = dot;
      }
    const rowMean = new Float64Array(m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) rowMean[i] += k[i * m + j] / m;
    const all = rowMean.reduce((a, b) => a + b, 0) / m;
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) k[i * m + j] += all - rowMean[i] - rowMean[j] + (i === j ? lambda : 0);
    const alpha = solveSpd(k, Float64Array.from(yc), m);
    const alphaSum = alpha.reduce((a, b) => a + b, 0);
    w = new Float64Array(p);
    sparse.forEach((r, i) => {
      for (const [c, v] of r) w[c] += alpha[i] * v;
    });
    for (let c = 0; c < p; c++) w[c] -= mu[c] * alphaSum;
  }
  let intercept = yMean;
  for (const [bucket, c] of col) {
    weights.set(bucket, w[c]);
    intercept -= mu[c] * w[c];
  }
  return model(intercept, weights);
}

function model(intercept: number, weights: Map<number, number>): RidgeModel {
  return {
    intercept,
    weights,
    predict(row) {
      let z = intercept;
      for (const i of row) z += weights.get(i) ?? 0;
      return z;
    },
  };
}

/** Solves A x = b for a symmetric positive-definite n×n A (row-major; overwritten by its Cholesky factor). */
function solveSpd(a: Float64Array, b: Float64Array, n: number): Float64Array {
  if (!choleskyInPlace(a, n)) throw new Error("ridgeFit: the regularised normal matrix is not positive definite");
  return choleskySolve(a, n, b, new Float64Array(n));
}

/**
 * Cross-fitted predictions: row i is predicted by the ridge fit on the rows of every other fold
 * (`fold[i]` in [0, folds)), so its prediction never depends on its own target. A fold whose
 * complement is empty is predicted 0.
 */
export function crossFitRidge(rows: number[][], y: number[], fold: number[], folds: number, lambda: number): number[] {
  const out = new Array<number>(rows.length).fill(0);
  for (let f = 0; f < folds; f++) {
    const test = rows.map((_, i) => i).filter((i) => fold[i] === f);
    if (test.length === 0) continue;
    const train = rows.map((_, i) => i).filter((i) => fold[i] !== f);
    const fit = ridgeFit(
      train.map((i) => rows[i]),
      train.map((i) => y[i]),
      lambda,
    );
    for (const i of test) out[i] = fit.predict(rows[i]);
  }
  return out;
}
