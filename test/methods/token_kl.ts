/**
 * Test-only: reads `TokenDistributions` back per pair, and the float64 brute force they are checked
 * against (log-softmax of whole-sequence logits, KL summed in JavaScript).
 */
import { readAndDispose } from "../../src/backend";
import type { TokenDistributions } from "../../src/policies/text_policy";

/** log-softmax of a logits row in float64. */
export function logSoftmax64(row: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let v = 0; v < row.length; v++) m = Math.max(m, row[v]);
  let z = 0;
  for (let v = 0; v < row.length; v++) z += Math.exp(row[v] - m);
  const lse = m + Math.log(z);
  return Float64Array.from(row, (x) => x - lse);
}

/** Σ over positions of Σ_v p_v (log p_v − log q_v), from the two policies' logits rows at the same positions (float64). */
export function bruteKl(pLogits: ArrayLike<number>[], qLogits: ArrayLike<number>[]): number {
  let kl = 0;
  pLogits.forEach((row, t) => {
    const lp = logSoftmax64(row);
    const lq = logSoftmax64(qLogits[t]);
    for (let v = 0; v < lp.length; v++) kl += Math.exp(lp[v]) * (lp[v] - lq[v]);
  });
  return kl;
}

/** Per pair, its masked-in rows of log-probs and their targets, in position order; the tensors are disposed. */
export async function readByPair(d: TokenDistributions): Promise<{ rows: Float32Array[][]; targets: number[][]; maskedOutAfter: boolean }> {
  const [B, T, V] = d.logProbs.shape;
  const lp = await readAndDispose(d.logProbs);
  const mask = await readAndDispose(d.mask);
  const rows: Float32Array[][] = [];
  const targets: number[][] = [];
  // The layout promises the mask is 1 on a prefix of each pair's positions.
  let maskedOutAfter = true;
  for (let b = 0; b < B; b++) {
    rows.push([]);
    targets.push([]);
    for (let t = 0; t < T; t++) {
      if (mask[b * T + t] === 0) continue;
      if (t > 0 && mask[b * T + t - 1] === 0) maskedOutAfter = false;
      rows[b].push(lp.slice((b * T + t) * V, (b * T + t + 1) * V));
      targets[b].push(d.targets[b * T + t]);
    }
  }
  return { rows, targets, maskedOutAfter };
}

/** max over rows of |log Σ_v exp(row_v)|: 0 for log-distributions. */
export function worstLogNormaliser(rows: Float32Array[][]): number {
  let worst = 0;
  for (const pair of rows) for (const row of pair) worst = Math.max(worst, Math.abs(Math.log(row.reduce((a, x) => a + Math.exp(x), 0))));
  return worst;
}

/** max |a − b| over two lists of rows. */
export function worstRowDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  let worst = 0;
  a.forEach((row, t) => {
    for (let v = 0; v < row.length; v++) worst = Math.max(worst, Math.abs(row[v] - b[t][v]));
  });
  return worst;
}
