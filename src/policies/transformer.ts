/**
 * A small causal transformer policy over `Tokenizer` tokens, in TF.js (tfjs-core ops only, so
 * the maths is visible): token + position embeddings, `layers` pre-LayerNorm blocks of
 * multi-head causal self-attention and a ReLU MLP, a final LayerNorm, output tied to the token
 * embedding.
 *
 * A (state, action) pair is the sequence <bos> state <sep> action <eos>; the state is cut from the
 * left to fit the context. log π(a|s) = Σ over the action's tokens and <eos> of the token
 * log-probabilities (docs/design.md: a sequence model's log π is the sum of its token log-probs).
 */
import { readAndDispose, tf } from "../backend";
import { Rng } from "../core/rng";
import { layOutByPair, sumScored, type TextPolicy, type TokenDistributions } from "./text_policy";
import { BOS, EOS, PAD, SEP, Tokenizer } from "./tokenizer";

export interface TransformerConfig {
  vocabSize: number;
  dModel: number;
  heads: number;
  layers: number;
  /** Tokens per sequence (state + action + specials). */
  context: number;
  /** Longest action (tokens, without <eos>) that sampling generates. */
  maxActionTokens: number;
  seed: number;
}

export const DEFAULT_TRANSFORMER: Omit<TransformerConfig, "vocabSize"> = { dModel: 64, heads: 2, layers: 1, context: 96, maxActionTokens: 24, seed: 0 };

let instances = 0;

export interface EncodedBatch {
  ids: Int32Array; // [B, T]
  /** 1 where position t+1 is an action token or <eos> (the targets of log π), [B, T]. */
  mask: Float32Array;
  batch: number;
  /**
   * T: the longest sequence in this batch (≤ the context). Shorter sequences are padded at the
   * end, where causal attention never lets padding reach a scored position, so cutting the batch
   * to its longest sequence changes no log-prob — it only skips work on padding.
   */
  length: number;
}

export class TransformerPolicy implements TextPolicy {
  readonly config: TransformerConfig;
  readonly tokenizer: Tokenizer;
  readonly variables: Map<string, tf.Variable>;

  constructor(tokenizer: Tokenizer, config: Partial<Omit<TransformerConfig, "vocabSize">> = {}, weights?: Map<string, Float32Array>) {
    this.tokenizer = tokenizer;
    this.config = { ...DEFAULT_TRANSFORMER, ...config, vocabSize: tokenizer.size };
    const c = this.config;
    if (c.dModel % c.heads !== 0) throw new Error(`dModel (${c.dModel}) must be divisible by heads (${c.heads})`);
    const rng = new Rng(c.seed).fork("transformer-init");
    const shapes = this.shapes();
    this.variables = new Map();
    for (const [name, shape] of shapes) {
      const size = shape.reduce((a, b) => a * b, 1);
      let data = weights?.get(name);
      if (weights && (!data || data.length !== size))
        throw new Error(`checkpoint: weight ${name} is missing or has ${data?.length ?? 0} values, expected ${size}`);
      if (!data) {
        data = new Float32Array(size);
        if (name.endsWith(".gain")) data.fill(1);
        else if (!name.endsWith(".bias")) for (let i = 0; i < size; i++) data[i] = rng.normal() * 0.02;
      }
      const init = tf.tensor(data, shape);
      this.variables.set(name, tf.variable(init, true, `transformer${++instances}/${name}`));
      init.dispose();
    }
  }

  /** Parameter names and shapes, in a fixed order. */
  private shapes(): [string, number[]][] {
    const { vocabSize: V, dModel: d, context: T, layers } = this.config;
    const out: [string, number[]][] = [
      ["tok", [V, d]],
      ["pos", [T, d]],
    ];
    for (let l = 0; l < layers; l++) {
      out.push([`b${l}.ln1.gain`, [d]], [`b${l}.ln1.bias`, [d]], [`b${l}.wq`, [d, d]], [`b${l}.wk`, [d, d]], [`b${l}.wv`, [d, d]], [`b${l}.wo`, [d, d]]);
      out.push(
        [`b${l}.ln2.gain`, [d]],
        [`b${l}.ln2.bias`, [d]],
        [`b${l}.w1`, [d, 4 * d]],
        [`b${l}.b1.bias`, [4 * d]],
        [`b${l}.w2`, [4 * d, d]],
        [`b${l}.b2.bias`, [d]],
      );
    }
    out.push(["lnf.gain", [d]], ["lnf.bias", [d]]);
    return out;
  }

  trainable(): tf.Variable[] {
    return [...this.variables.values()];
  }

  private v(name: string): tf.Variable {
    return this.variables.get(name)!;
  }

  /** Token ids of (state, action) pairs, state cut from the left to fit. */
  /** <bos> state <sep>, the state cut from the left to its room. */
  prompt(state: string): number[] {
    // The state always gets the same room, whatever the action's length, so that scoring and
    // sampling (which cannot know the length in advance) see the same state tokens.
    const room = this.config.context - this.config.maxActionTokens - 3;
    if (room < 1) throw new Error(`context ${this.config.context} is too short for actions of up to ${this.config.maxActionTokens} tokens`);
    const s = this.tokenizer.encode(state);
    return [BOS, ...s.slice(Math.max(0, s.length - room)), SEP];
  }

  encode(states: string[], actions: string[]): EncodedBatch {
    const B = states.length;
    const prompts = states.map((s) => this.prompt(s));
    const seqs = prompts.map((p, b) => [...p, ...this.tokenizer.encode(actions[b]).slice(0, this.config.maxActionTokens), EOS]);
    const T = Math.max(1, ...seqs.map((q) => q.length));
    const ids = new Int32Array(B * T).fill(PAD);
    const mask = new Float32Array(B * T);
    seqs.forEach((seq, b) => {
      ids.set(seq, b * T);
      // Targets: the action tokens and <eos>, each predicted from the position before it.
      for (let t = prompts[b].length - 1; t < seq.length - 1; t++) mask[b * T + t] = 1;
    });
    return { ids, mask, batch: B, length: T };
  }

  private layerNorm(x: tf.Tensor, name: string): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), this.v(`${name}.gain`)), this.v(`${name}.bias`));
  }

  /**
   * Final hidden states [B·T, d] for token ids [B, T]. With `cache`, each block's keys and values
   * are also kept there ([B, H, cache.length, dh], zero after position T) for `decoder`.
   */
  hidden(ids: tf.Tensor2D, cache?: { keys: tf.Tensor4D[]; values: tf.Tensor4D[]; length: number }): tf.Tensor2D {
    const { dModel: d, layers } = this.config;
    const [B, T] = ids.shape;
    const pos = T === this.config.context ? this.v("pos") : tf.slice(this.v("pos"), [0, 0], [T, d]);
    let x: tf.Tensor = tf.add(tf.reshape(tf.gather(this.v("tok"), tf.reshape(ids, [-1])), [B, T, d]), pos);
    const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0);
    const maskAdd = tf.mul(tf.sub(1, causal), -1e9);
    for (let l = 0; l < layers; l++) {
      const h = tf.reshape(this.layerNorm(x, `b${l}.ln1`), [B * T, d]) as tf.Tensor2D;
      const [q, k, v] = (["wq", "wk", "wv"] as const).map((w) => this.project(h, l, w, B, T));
      if (cache) {
        const pad: [number, number][] = [
          [0, 0],
          [0, 0],
          [0, cache.length - T],
          [0, 0],
        ];
        cache.keys.push(tf.keep(tf.pad(k, pad)));
        cache.values.push(tf.keep(tf.pad(v, pad)));
      }
      x = this.block(x, l, q, k, v, maskAdd, B, T);
    }
    return tf.reshape(this.layerNorm(x, "lnf"), [B * T, d]) as tf.Tensor2D;
  }

  /** Heads of h [B·rows, d] through block l's projection w: [B, H, rows, dh]. */
  private project(h: tf.Tensor2D, l: number, w: "wq" | "wk" | "wv", B: number, rows: number): tf.Tensor4D {
    const { dModel: d, heads: H } = this.config;
    return tf.transpose(tf.reshape(tf.matMul(h, this.v(`b${l}.${w}`) as tf.Tensor2D), [B, rows, H, d / H]), [0, 2, 1, 3]) as tf.Tensor4D;
  }

  /**
   * The rest of block l after the query/key/value projections: attention of the Tq queries over
   * the keys (mask added to the scores, broadcast), output projection, residual, MLP, residual.
   * x is [B, Tq, d]; q is [B, H, Tq, dh]; k and v are [B, H, Tk, dh].
   */
  private block(x: tf.Tensor, l: number, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, maskAdd: tf.Tensor, B: number, Tq: number): tf.Tensor {
    const d = this.config.dModel;
    const att = tf.softmax(tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(d / this.config.heads)), maskAdd));
    const ctx = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [B * Tq, d]);
    x = tf.add(x, tf.reshape(tf.matMul(ctx as tf.Tensor2D, this.v(`b${l}.wo`) as tf.Tensor2D), [B, Tq, d]));
    const h2 = tf.reshape(this.layerNorm(x, `b${l}.ln2`), [B * Tq, d]);
    const hidden1 = tf.relu(tf.add(tf.matMul(h2 as tf.Tensor2D, this.v(`b${l}.w1`) as tf.Tensor2D), this.v(`b${l}.b1.bias`))) as tf.Tensor2D;
    const mlp = tf.add(tf.matMul(hidden1, this.v(`b${l}.w2`) as tf.Tensor2D), this.v(`b${l}.b2.bias`));
    return tf.add(x, tf.reshape(mlp, [B, Tq, d]));
  }

  /** Logits over the vocabulary for final hidden states [N, d]: the output is tied to the token embedding. */
  private unembed(hidden: tf.Tensor2D): tf.Tensor2D {
    return tf.matMul(hidden, tf.transpose(this.v("tok") as tf.Tensor2D));
  }

  /** Logits over the vocabulary at chosen flat positions b·T + t of the hidden states. */
  private logitsAt(hidden: tf.Tensor2D, positions: Int32Array): tf.Tensor2D {
    // Only the positions that are scored (action tokens) or sampled from (the last one) are
    // projected onto the vocabulary: a few per sequence instead of all T.
    return this.unembed(tf.gather(hidden, tf.tensor1d(positions, "int32")) as tf.Tensor2D);
  }

  /** Logits [B, T, V] at every position (for tests and inspection; training uses `sequenceLogProb`). */
  logits(ids: tf.Tensor2D): tf.Tensor3D {
    const [B, T] = ids.shape;
    return tf.reshape(this.unembed(this.hidden(ids)), [B, T, this.config.vocabSize]) as tf.Tensor3D;
  }

  /** Per-sequence log π(a|s) as a [B] tensor (differentiable). */
  sequenceLogProb(states: string[], actions: string[]): tf.Tensor1D {
    return this.encodedLogProb(this.encode(states, actions));
  }

  scoredTokens(states: string[], actions: string[]): number[] {
    return actions.map((a) => Math.min(this.tokenizer.encode(a).length, this.config.maxActionTokens) + 1);
  }

  /** `sequenceLogProb` of an already encoded batch. */
  encodedLogProb(batch: EncodedBatch): tf.Tensor1D {
    const s = this.scoredLogSoftmax(batch);
    return sumScored(s.logp, s.targets, s.owner, batch.batch);
  }

  nextTokenLogProbs(states: string[], actions: string[]): TokenDistributions {
    const batch = this.encode(states, actions);
    const s = this.scoredLogSoftmax(batch);
    return layOutByPair(s.logp, s.targets, s.owner, batch.batch);
  }

  /** Log-softmax rows [N, V] at the scored positions of an encoded batch, in pair order, with each row's target and pair. */
  private scoredLogSoftmax(batch: EncodedBatch): { logp: tf.Tensor2D; targets: Int32Array; owner: Int32Array } {
    const T = batch.length;
    const positions: number[] = [];
    const targets: number[] = [];
    const owner: number[] = [];
    for (let i = 0; i < batch.batch * T; i++) {
      if (batch.mask[i] === 0) continue;
      positions.push(i);
      targets.push(batch.ids[i + 1]);
      owner.push(Math.floor(i / T));
    }
    const hidden = this.hidden(tf.tensor2d(batch.ids, [batch.batch, T], "int32"));
    return { logp: tf.logSoftmax(this.logitsAt(hidden, Int32Array.from(positions))), targets: Int32Array.from(targets), owner: Int32Array.from(owner) };
  }

  /** log π(a|s) for many pairs, in batches (no gradient). */
  async logProbs(states: string[], actions: string[], batchSize = 64): Promise<Float64Array> {
    const out = new Float64Array(states.length);
    for (let i = 0; i < states.length; i += batchSize) {
      const enc = this.encode(states.slice(i, i + batchSize), actions.slice(i, i + batchSize));
      // Read outside tidy: tidy walks a returned TypedArray element by element looking for tensors.
      out.set(Float64Array.from(await readAndDispose(tf.tidy(() => this.encodedLogProb(enc)))), i);
    }
    return out;
  }

  async logProb(state: string, action: string): Promise<number> {
    return (await this.logProbs([state], [action]))[0];
  }

  /**
   * Samples one action per state with temperature τ (τ = 0: greedy), generating up to
   * `maxActionTokens` tokens or <eos>. Token choices use the given Rng, so runs repeat exactly.
   */
  async sample(states: string[], rng: Rng, temperature = 1, batchSize = 64): Promise<string[]> {
    return (await this.sampleIds(states, rng, temperature, batchSize)).map((g) => this.tokenizer.decode(g.ids));
  }

  /**
   * `sample` before decoding: each action's token ids and whether it ended with <eos> (`stopped`)
   * rather than at the length limit. `maxTokens` (≤ maxActionTokens) lowers that limit; the same
   * Rng and temperature give the same tokens as `sample` up to it.
   */
  async sampleIds(
    states: string[],
    rng: Rng,
    temperature = 1,
    batchSize = 64,
    maxTokens = this.config.maxActionTokens,
  ): Promise<{ ids: number[]; stopped: boolean }[]> {
    const out: { ids: number[]; stopped: boolean }[] = [];
    const V = this.config.vocabSize;
    const M = Math.min(this.config.maxActionTokens, maxTokens);
    for (let i = 0; i < states.length; i += batchSize) {
      const chunk = states.slice(i, i + batchSize);
      const B = chunk.length;
      const seqs = chunk.map((s) => this.prompt(s));
      const generated: number[][] = chunk.map(() => []);
      const finished = new Array(B).fill(false);
      const stopped = new Array(B).fill(false);
      const decoder = this.decoder(seqs, M);
      try {
        for (let step = 0; step < M + 1 && finished.includes(false); step++) {
          const rows = step === 0 ? await decoder.first() : await decoder.next(generated.map((g, b) => (finished[b] ? PAD : g[g.length - 1])));
          for (let b = 0; b < B; b++) {
            if (finished[b]) continue;
            const row = rows.subarray(b * V, (b + 1) * V);
            let tok: number;
            if (temperature <= 0) {
              tok = 0;
              for (let v = 1; v < V; v++) if (row[v] > row[tok]) tok = v;
            } else {
              let m = -Infinity;
              for (let v = 0; v < V; v++) m = Math.max(m, row[v] / temperature);
              const p = new Float64Array(V);
              let z = 0;
              for (let v = 0; v < V; v++) z += p[v] = Math.exp(row[v] / temperature - m);
              for (let v = 0; v < V; v++) p[v] /= z;
              tok = rng.categorical(p);
            }
            if (tok === EOS || generated[b].length >= M) {
              finished[b] = true;
              stopped[b] = tok === EOS;
            } else generated[b].push(tok);
          }
        }
      } finally {
        decoder.dispose();
      }
      generated.forEach((ids, b) => out.push({ ids, stopped: stopped[b] }));
    }
    return out;
  }

  /**
   * Incremental decoding with a key/value cache, for sampling: `first()` runs the prompts once
   * (padded at the end to the longest) and returns the next-token logits [B·V] at each prompt's
   * last position; each `next(tokens)` appends one token per sequence and returns the logits after
   * it, attending over the cached keys and values instead of re-running the whole sequence.
   * Sequence b's j-th appended token sits at position len_b + j, so it overwrites that row's
   * padding in the cache; a mask hides every position after it. Same maths as `hidden` on the
   * full sequence (tested against it); the cost per token is O(T·d) attention plus O(d²) layers
   * instead of a full O(T·d² + T²·d) pass.
   */
  private decoder(prompts: number[][], maxNew: number): { first(): Promise<Float32Array>; next(tokens: number[]): Promise<Float32Array>; dispose(): void } {
    const { dModel: d, layers, context, vocabSize: V } = this.config;
    const B = prompts.length;
    const lengths = prompts.map((p) => p.length);
    const T0 = Math.max(...lengths);
    const cache = { keys: [] as tf.Tensor4D[], values: [] as tf.Tensor4D[], length: Math.min(context, Math.max(...lengths.map((n) => n + maxNew))) };
    const Tmax = cache.length;
    let appended = 0;
    const read = async (logits: tf.Tensor) => {
      const rows = await readAndDispose(logits);
      if (rows.length !== B * V) throw new Error("decoder: unexpected logits shape");
      return rows;
    };
    return {
      first: () => {
        const ids = new Int32Array(B * T0).fill(PAD);
        prompts.forEach((p, b) => ids.set(p, b * T0));
        return read(
          tf.tidy(() =>
            this.logitsAt(
              this.hidden(tf.tensor2d(ids, [B, T0], "int32"), cache),
              Int32Array.from(lengths, (n, b) => b * T0 + n - 1),
            ),
          ),
        );
      },
      next: (tokens: number[]) => {
        const at = lengths.map((n) => Math.min(n + appended, Tmax - 1));
        appended++;
        return read(
          tf.tidy(() => {
            const put = tf.reshape(tf.oneHot(tf.tensor1d(at, "int32"), Tmax), [B, 1, Tmax, 1]);
            const keep = tf.sub(1, put);
            // Position t is visible to the new token iff t ≤ its own position.
            const hiddenAfter = Float32Array.from({ length: B * Tmax }, (_, i) => (i % Tmax <= at[Math.floor(i / Tmax)] ? 0 : -1e9));
            const maskAdd = tf.tensor4d(hiddenAfter, [B, 1, 1, Tmax]);
            let x: tf.Tensor = tf.reshape(tf.add(tf.gather(this.v("tok"), tf.tensor1d(tokens, "int32")), tf.gather(this.v("pos"), tf.tensor1d(at, "int32"))), [
              B,
              1,
              d,
            ]);
            for (let l = 0; l < layers; l++) {
              const h = tf.reshape(this.layerNorm(x, `b${l}.ln1`), [B, d]) as tf.Tensor2D;
              const k = tf.add(tf.mul(cache.keys[l], keep), tf.mul(this.project(h, l, "wk", B, 1), put)) as tf.Tensor4D;
              const v = tf.add(tf.mul(cache.values[l], keep), tf.mul(this.project(h, l, "wv", B, 1), put)) as tf.Tensor4D;
              cache.keys[l].dispose();
              cache.values[l].dispose();
              cache.keys[l] = tf.keep(k);
              cache.values[l] = tf.keep(v);
              x = this.block(x, l, this.project(h, l, "wq", B, 1), k, v, maskAdd, B, 1);
            }
            return this.unembed(tf.reshape(this.layerNorm(x, "lnf"), [B, d]) as tf.Tensor2D);
          }),
        );
      },
      dispose: () => {
        for (const t of [...cache.keys, ...cache.values]) t.dispose();
      },
    };
  }

  /**
   * The terms of log π(a|s), one per token: the log-probability (temperature 1) of each of
   * `actionIds` and then, when `withEos` (the default), of <eos>, after `state` — the same
   * sequence `encode` builds, so with `actionIds = tokenizer.encode(action)` they sum to
   * `logProb(state, action)` (up to float32 summation order). `topK` > 0 also returns the k most
   * likely tokens at each of those positions. For inspection and the HTTP server's `logprobs`.
   */
  async tokenLogProbs(
    state: string,
    actionIds: number[],
    options: { withEos?: boolean; topK?: number } = {},
  ): Promise<{ ids: number[]; logprobs: number[]; top: { id: number; logprob: number }[][] }> {
    const { maxActionTokens: M, vocabSize: V } = this.config;
    if (actionIds.length > M) throw new Error(`the action has ${actionIds.length} tokens; this policy scores at most ${M} (maxActionTokens)`);
    const prefix = this.prompt(state);
    const targets = options.withEos === false ? [...actionIds] : [...actionIds, EOS];
    const ids = Int32Array.from([...prefix, ...actionIds, EOS]);
    const T = ids.length;
    if (targets.length === 0) return { ids: [], logprobs: [], top: [] };
    const positions = Int32Array.from(targets, (_, j) => prefix.length - 1 + j);
    const lp = await readAndDispose(tf.tidy(() => tf.logSoftmax(this.logitsAt(this.hidden(tf.tensor2d(ids, [1, T], "int32")), positions))));
    const k = Math.min(V, Math.max(0, Math.floor(options.topK ?? 0)));
    const top: { id: number; logprob: number }[][] = [];
    const logprobs = targets.map((id, j) => {
      const row = lp.subarray(j * V, (j + 1) * V);
      if (k > 0)
        top.push(
          Array.from(row, (logprob, id) => ({ id, logprob }))
            .sort((a, b) => b.logprob - a.logprob || a.id - b.id)
            .slice(0, k),
        );
      return row[id];
    });
    return { ids: targets, logprobs, top };
  }

  /** A new policy with a copy of these weights (the built-in model is small: a full copy is cheap). */
  async snapshot(): Promise<TransformerPolicy> {
    return new TransformerPolicy(this.tokenizer, this.config, await this.weights());
  }

  /** Weights by name (copies). */
  async weights(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [k, v] of this.variables) out.set(k, Float32Array.from((await v.data()) as Float32Array));
    return out;
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
  }
}
