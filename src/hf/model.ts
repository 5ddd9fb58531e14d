/**
 * A pretrained causal language model from a Hugging Face folder, in TF.js (float32 throughout):
 * GPT-2 or the Llama family (see config.ts). Weights keep their checkpoint names, so adapters,
 * merging and saving speak the same names as PyTorch. Loading reads and checks every header, the
 * config and every tensor's presence, shape and dtype before a single tf variable is created: a
 * bad folder fails with one line and leaves nothing allocated.
 *
 * Sequences are padded at the end; causal attention keeps padding from reaching any earlier
 * position, so every row's logits equal those of the row alone. Sampling uses a key/value cache
 * (`decoder`): the prompt once, then one position per new token.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { readAndDispose, tf } from "../backend";
import { writeFolderAtomic } from "../core/atomic";
import { InputError } from "../core/errors";
import { expectedTensors, ignorableTensor, readConfig, type ModelConfig } from "./config";
import { encodeSafetensors, readModelHeaders, readTensor, type FloatDtype, type TensorInfo } from "./safetensors";

/** Something added to a linear layer's output (LoRA): input [N, in] → [N, out]. */
export interface LinearAdapter {
  delta(x: tf.Tensor2D, training: boolean): tf.Tensor2D;
  /** Its trainable variables: a recomputed block takes their gradients explicitly. */
  variables(): tf.Variable[];
  /**
   * Where its dropout seeds stand, and a way to set it back: a block recomputed in the backward
   * pass draws the same dropout masks as its forward pass did.
   */
  seedState(): number;
  setSeedState(state: number): void;
}

export interface ForwardOptions {
  /** Adapters apply dropout (training passes only). */
  training?: boolean;
  /**
   * Keep only each block's input for the gradient and recompute the block's activations in the
   * backward pass (activation checkpointing): memory for one block's activations instead of every
   * block's, for about one more forward pass of compute. Same numbers either way. Default: on in
   * training passes whose kept activations would exceed RECOMPUTE_ABOVE_BYTES, off otherwise.
   */
  recompute?: boolean;
}

/** Estimated activation bytes a gradient would keep, above which training passes recompute blocks. */
export const RECOMPUTE_ABOVE_BYTES = 256 * 2 ** 20;

interface LayerCache {
  keys: tf.Tensor4D; // [B, KV, Tmax, dh], positions already rotated
  values: tf.Tensor4D;
}

let instances = 0;

/** The checkpoint name of a tensor in a GPT-2 file saved from the bare model ("h.0…" → "transformer.h.0…"). */
function canonicalName(c: ModelConfig, name: string): string {
  if (c.family === "gpt2" && !name.startsWith("transformer.") && name !== "lm_head.weight") return `transformer.${name}`;
  return name;
}

/**
 * Reads and checks a model folder's weights (no tf variables yet): every expected tensor present
 * with its shape and a float dtype, nothing unknown. Returns float32 arrays by canonical name.
 */
export function readWeights(dir: string, config: ModelConfig): Map<string, Float32Array> {
  const headers = readModelHeaders(dir);
  const byName = new Map<string, TensorInfo>();
  for (const [name, info] of headers) {
    const canon = canonicalName(config, name);
    if (ignorableTensor(config, canon)) continue;
    byName.set(canon, info);
  }
  const expected = expectedTensors(config);
  const wanted = new Set(expected.map(([n]) => n));
  const weightsFile = headers.size ? [...headers.values()][0].file : path.join(dir, "model.safetensors");
  for (const [name, shape] of expected) {
    const info = byName.get(name);
    if (!info) throw new InputError(`${weightsFile}: tensor ${name}`, `missing (the ${config.modelType} config with ${config.layers} layers needs it)`);
    const where = `${info.file}: tensor ${info.name}`;
    if (info.shape.join(",") !== shape.join(","))
      throw new InputError(where, `shape ${JSON.stringify(info.shape)} does not match config.json, which implies ${JSON.stringify(shape)}`);
    if (!["F32", "F16", "BF16"].includes(info.dtype)) throw new InputError(where, `dtype ${info.dtype} is not supported (F32, F16 and BF16 are)`);
  }
  for (const [name, info] of byName) {
    if (!wanted.has(name))
      throw new InputError(`${info.file}: tensor ${info.name}`, `not part of a ${config.modelType} model with this config.json (unexpected tensor)`);
  }
  const out = new Map<string, Float32Array>();
  for (const [name] of expected) out.set(name, readTensor(byName.get(name)!));
  return out;
}

/** Inverse frequencies of the rotary embedding, with the config's scaling. */
export function ropeInvFreq(c: ModelConfig): Float64Array {
  const half = c.headDim / 2;
  const inv = Float64Array.from({ length: half }, (_, j) => 1 / c.ropeTheta ** ((2 * j) / c.headDim));
  const s = c.ropeScaling;
  if (!s) return inv;
  if (s.type === "linear") return inv.map((f) => f / s.factor);
  const lowWave = s.originalMaxPositions! / s.lowFreqFactor!;
  const highWave = s.originalMaxPositions! / s.highFreqFactor!;
  return inv.map((f) => {
    const wave = (2 * Math.PI) / f;
    if (wave < highWave) return f;
    if (wave > lowWave) return f / s.factor;
    const smooth = (s.originalMaxPositions! / wave - s.lowFreqFactor!) / (s.highFreqFactor! - s.lowFreqFactor!);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

export class HfCausalLM {
  readonly config: ModelConfig;
  /** The folder it was loaded from (null when built from weights in memory). */
  readonly dir: string | null;
  readonly params: Map<string, tf.Variable>;
  /** Adapters by module path (e.g. "model.layers.0.self_attn.q_proj"). */
  readonly adapters = new Map<string, LinearAdapter>();
  private readonly invFreq: Float64Array;

  /** The base weights belong to another model (see `sharingBase`), which frees them. */
  private readonly sharedParams: boolean;

  /** `weights` by checkpoint name, or `{ share }`: use that model's base weight variables (see `sharingBase`). */
  constructor(config: ModelConfig, weights: Map<string, Float32Array> | { share: HfCausalLM }, options: { dir?: string; trainable?: boolean } = {}) {
    this.config = config;
    this.dir = options.dir ?? null;
    this.invFreq = config.family === "llama" ? ropeInvFreq(config) : new Float64Array(0);
    this.sharedParams = !(weights instanceof Map);
    if (!(weights instanceof Map)) {
      this.params = weights.share.params;
      return;
    }
    const expected = expectedTensors(config);
    for (const [name, shape] of expected) {
      const data = weights.get(name);
      const size = shape.reduce((a, b) => a * b, 1);
      if (!data || data.length !== size) throw new Error(`weights: ${name} is missing or has ${data?.length ?? 0} values, expected ${size}`);
    }
    const id = ++instances;
    this.params = new Map();
    for (const [name, shape] of expected) {
      const init = tf.tensor(weights.get(name)!, shape);
      this.params.set(name, tf.variable(init, options.trainable ?? false, `hf${id}/${name}`));
      init.dispose();
    }
  }

  /**
   * A second model on this one's base weights (the same variables, not a copy) with no adapters,
   * so it can carry adapters of its own (a frozen copy of them, for a reference policy).
   * Disposing it leaves the base weights to this model.
   */
  sharingBase(): HfCausalLM {
    return new HfCausalLM(this.config, { share: this }, { dir: this.dir ?? undefined });
  }

  /** Loads a Hugging Face model folder (config.json + safetensors); base weights are frozen unless `trainable`. */
  static load(dir: string, options: { trainable?: boolean } = {}): HfCausalLM {
    const config = readConfig(dir);
    const weights = readWeights(dir, config);
    return new HfCausalLM(config, weights, { dir, trainable: options.trainable });
  }

  private p(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`internal: no parameter ${name}`);
    return v;
  }

  /** Base weights that train (all of them for full fine-tuning, none with adapters). */
  trainableBase(): tf.Variable[] {
    return [...this.params.values()].filter((v) => v.trainable);
  }

  /**
   * The linear layer `module` on x [N, in]: Linear weights are [out, in]; GPT-2's Conv1D weights
   * are [in, out]. Plus the bias where the checkpoint has one, plus the module's adapter.
   */
  linear(x: tf.Tensor2D, module: string, options: ForwardOptions = {}): tf.Tensor2D {
    const w = this.p(`${module}.weight`) as unknown as tf.Tensor2D;
    let y: tf.Tensor2D = tf.matMul(x, w, false, this.config.family !== "gpt2");
    const b = this.params.get(`${module}.bias`);
    if (b) y = tf.add(y, b);
    const a = this.adapters.get(module);
    if (a) y = tf.add(y, a.delta(x, options.training ?? false));
    return y;
  }

  private norm(x: tf.Tensor2D, name: string): tf.Tensor2D {
    const c = this.config;
    if (c.family === "gpt2") {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, c.normEps))), this.p(`${name}.weight`)), this.p(`${name}.bias`));
    }
    const ms = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, c.normEps))), this.p(`${name}.weight`));
  }

  /** cos and sin of the rotary angles, [rows, 1, Tq, dh] for positions [rows · Tq]. */
  private rotary(positions: Int32Array, rows: number, Tq: number): [tf.Tensor, tf.Tensor] {
    const dh = this.config.headDim;
    const half = dh / 2;
    const cos = new Float32Array(positions.length * dh);
    const sin = new Float32Array(positions.length * dh);
    positions.forEach((p, i) => {
      for (let j = 0; j < half; j++) {
        // HF computes the angle in float32 before cos/sin; doing the same keeps long positions equal.
        const angle = Math.fround(p * Math.fround(this.invFreq[j]));
        cos[i * dh + j] = cos[i * dh + j + half] = Math.cos(angle);
        sin[i * dh + j] = sin[i * dh + j + half] = Math.sin(angle);
      }
    });
    return [tf.tensor4d(cos, [rows, 1, Tq, dh]), tf.tensor4d(sin, [rows, 1, Tq, dh])];
  }

  /** x [B, heads, Tq, dh] rotated: x·cos + rotate_half(x)·sin with rotate_half(x) = [−x₂, x₁]. */
  private rope(x: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor4D {
    const half = this.config.headDim / 2;
    const [x1, x2] = tf.split(x, [half, half], 3);
    return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], 3), sin)) as tf.Tensor4D;
  }

  /** [B·T, n·dh] → [B, n, T, dh]. */
  private heads(x: tf.Tensor2D, B: number, T: number, n: number): tf.Tensor4D {
    return tf.transpose(tf.reshape(x, [B, T, n, this.config.headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
  }

  /** Key/value heads shared by groups of query heads, repeated to one per query head. */
  private repeatKv(x: tf.Tensor4D): tf.Tensor4D {
    const { heads: H, kvHeads: KV } = this.config;
    if (H === KV) return x;
    const [B, , T, dh] = x.shape;
    // Rank 4 throughout: tf.js has no tile gradient above rank 4.
    return tf.reshape(tf.tile(tf.reshape(x, [B, KV, 1, T * dh]), [1, 1, H / KV, 1]), [B, H, T, dh]) as tf.Tensor4D;
  }

  /**
   * One block on x [B·Tq, d]. `positions` [B·Tq] feed the rotary embedding; `maskAdd` is added to
   * the attention scores (broadcast to [B, H, Tq, Tk]); `cache`, when given, receives this block's
   * keys and values through `store`, which returns the keys/values to attend over.
   */
  private block(
    x: tf.Tensor2D,
    l: number,
    B: number,
    Tq: number,
    rot: [tf.Tensor, tf.Tensor] | null,
    maskAdd: tf.Tensor,
    store: ((k: tf.Tensor4D, v: tf.Tensor4D) => [tf.Tensor4D, tf.Tensor4D]) | null,
    o: ForwardOptions,
  ): tf.Tensor2D {
    const c = this.config;
    const { heads: H, kvHeads: KV, headDim: dh } = c;
    let q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D;
    let attnOut: string, mlp: (h: tf.Tensor2D) => tf.Tensor2D, ln1: string, ln2: string;
    if (c.family === "gpt2") {
      const p = `transformer.h.${l}`;
      ln1 = `${p}.ln_1`;
      ln2 = `${p}.ln_2`;
      const h = this.norm(x, ln1);
      // The fused q/k/v [B·Tq, 3·H·dh] to [B, 3·H, Tq, dh] in one transpose, then split into
      // runs of whole heads: cheaper on wasm than splitting columns and three transposes.
      const qkv = tf.transpose(tf.reshape(this.linear(h, `${p}.attn.c_attn`, o), [B, Tq, 3 * H, dh]), [0, 2, 1, 3]);
      [q, k, v] = tf.split(qkv, 3, 1) as tf.Tensor4D[];
      attnOut = `${p}.attn.c_proj`;
      mlp = (h2) => {
        const u = this.linear(h2, `${p}.mlp.c_fc`, o);
        // u³ as products: the wasm backend's Pow is a scalar loop several times slower than three multiplies.
        const g = tf.mul(tf.mul(u, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(u, tf.mul(0.044715, tf.mul(tf.mul(u, u), u)))))));
        return this.linear(g as tf.Tensor2D, `${p}.mlp.c_proj`, o);
      };
    } else {
      const p = `model.layers.${l}`;
      ln1 = `${p}.input_layernorm`;
      ln2 = `${p}.post_attention_layernorm`;
      const h = this.norm(x, ln1);
      q = this.rope(this.heads(this.linear(h, `${p}.self_attn.q_proj`, o), B, Tq, H), rot![0], rot![1]);
      k = this.rope(this.heads(this.linear(h, `${p}.self_attn.k_proj`, o), B, Tq, KV), rot![0], rot![1]);
      v = this.heads(this.linear(h, `${p}.self_attn.v_proj`, o), B, Tq, KV);
      attnOut = `${p}.self_attn.o_proj`;
      mlp = (h2) => {
        const gate = this.linear(h2, `${p}.mlp.gate_proj`, o);
        const up = this.linear(h2, `${p}.mlp.up_proj`, o);
        return this.linear(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D, `${p}.mlp.down_proj`, o);
      };
    }
    if (store) [k, v] = store(k, v);
    const scores = tf.add(tf.div(tf.matMul(q, this.repeatKv(k), false, true), Math.sqrt(dh)), maskAdd);
    const ctx = tf.matMul(tf.softmax(scores), this.repeatKv(v));
    const merged = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [B * Tq, H * dh]) as tf.Tensor2D;
    x = tf.add(x, this.linear(merged, attnOut, o));
    return tf.add(x, mlp(this.norm(x, ln2)));
  }

  /**
   * A rough count of the bytes a gradient keeps for all blocks at batch B × T: per block about 16
   * [B·T, d]-sized tensors (norms, projections, MLP at 4·d or the gated MLP) and 4 [B, H, T, T]
   * ones (scores, their scaled and masked forms, softmax).
   */
  activationBytes(B: number, T: number): number {
    const c = this.config;
    return 4 * c.layers * B * T * (16 * c.hidden + 4 * c.heads * T);
  }

  /**
   * Block `l` (`run`, on an input and the tensors it reads besides weights: the mask and rotary
   * tables) under a custom gradient that keeps only the block input and those: the backward pass
   * runs the block again under a tape, with the adapters' dropout seeds set back to where they
   * stood in the forward pass, and takes the gradients of the block input and of the block's
   * trainable variables (adapters, and base weights when they train) from it.
   */
  private recomputedBlock(x: tf.Tensor2D, l: number, consts: tf.Tensor[], run: (input: tf.Tensor2D, consts: tf.Tensor[]) => tf.Tensor2D): tf.Tensor2D {
    const prefix = this.config.family === "gpt2" ? `transformer.h.${l}.` : `model.layers.${l}.`;
    const adapters = [...this.adapters].filter(([m]) => m.startsWith(prefix)).map(([, a]) => a);
    const base = [...this.params].filter(([n, v]) => n.startsWith(prefix) && v.trainable).map(([, v]) => v);
    const vars: tf.Tensor[] = [...adapters.flatMap((a) => a.variables()), ...base];
    const seeds = adapters.map((a) => a.seedState());
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const input = args[0] as tf.Tensor2D;
      save([input, ...consts]);
      return {
        value: run(input, consts),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [input0, ...c] = saved;
          const now = adapters.map((a) => a.seedState());
          adapters.forEach((a, i) => a.setSeedState(seeds[i]));
          // tf.grads inside a gradient function starts a tape of its own and, when done, clears
          // the engine's tape, which the enclosing backward pass still has to clean up: keep it.
          const engine = tf.engine() as unknown as { state: { activeTape: unknown } };
          const tape = engine.state.activeTape;
          try {
            return tf.grads((inp: tf.Tensor) => run(inp as tf.Tensor2D, c))([input0, ...vars], dy);
          } finally {
            engine.state.activeTape = tape;
            adapters.forEach((a, i) => a.setSeedState(now[i]));
          }
        },
      };
    });
    return f(x, ...vars) as tf.Tensor2D;
  }

  private embed(ids: tf.Tensor1D, positions: Int32Array): tf.Tensor2D {
    if (this.config.family === "gpt2") {
      return tf.add(tf.gather(this.p("transformer.wte.weight"), ids), tf.gather(this.p("transformer.wpe.weight"), tf.tensor1d(positions, "int32")));
    }
    return tf.gather(this.p("model.embed_tokens.weight"), ids) as tf.Tensor2D;
  }

  private finalNorm(x: tf.Tensor2D): tf.Tensor2D {
    return this.norm(x, this.config.family === "gpt2" ? "transformer.ln_f" : "model.norm");
  }

  private checkLength(T: number): void {
    if (T > this.config.maxPositions) throw new InputError("sequence", `${T} tokens exceed the model's ${this.config.maxPositions} positions`);
  }

  /**
   * Final hidden states [B·T, d] for token ids [B, T] (positions 0…T−1 in every row). With
   * `cache`, each block's keys/values are also kept, padded with zeros to `cache.length`.
   */
  hidden(ids: tf.Tensor2D, options: ForwardOptions = {}, cache?: { layers: LayerCache[]; length: number }): tf.Tensor2D {
    const [B, T] = ids.shape;
    this.checkLength(T);
    const positions = Int32Array.from({ length: T }, (_, t) => t);
    let x = this.embed(
      tf.reshape(ids, [-1]),
      Int32Array.from({ length: B * T }, (_, i) => i % T),
    );
    const rot = this.config.family === "llama" ? this.rotary(positions, 1, T) : null;
    const maskAdd = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9);
    const recompute = !cache && (options.recompute ?? (options.training === true && this.activationBytes(B, T) > RECOMPUTE_ABOVE_BYTES));
    for (let l = 0; l < this.config.layers; l++) {
      const store = cache
        ? (k: tf.Tensor4D, v: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] => {
            const pad: [number, number][] = [
              [0, 0],
              [0, 0],
              [0, cache.length - T],
              [0, 0],
            ];
            cache.layers.push({ keys: tf.keep(tf.pad(k, pad)), values: tf.keep(tf.pad(v, pad)) });
            return [k, v];
          }
        : null;
      // Each block in its own scope: its intermediates are freed as soon as it is done (what a
      // gradient needs is kept by the tape), so inference holds one block's activations at a time.
      const input = x;
      x = tf.tidy(() =>
        recompute
          ? this.recomputedBlock(input, l, rot ? [maskAdd, ...rot] : [maskAdd], (inp, [m, cos, sin]) =>
              this.block(inp, l, B, T, rot ? [cos, sin] : null, m, null, options),
            )
          : this.block(input, l, B, T, rot, maskAdd, store, options),
      );
    }
    return this.finalNorm(x);
  }

  /** Logits for final hidden states [N, d]. */
  unembed(h: tf.Tensor2D): tf.Tensor2D {
    const c = this.config;
    const w = c.family === "gpt2" ? "transformer.wte.weight" : c.tieEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
    return tf.matMul(h, this.p(w) as unknown as tf.Tensor2D, false, true);
  }

  /** Logits at chosen flat positions b·T + t of hidden states [B·T, d]. */
  logitsAt(hidden: tf.Tensor2D, positions: Int32Array): tf.Tensor2D {
    return this.unembed(tf.gather(hidden, tf.tensor1d(positions, "int32")) as tf.Tensor2D);
  }

  /** Logits [B, T, V] at every position. */
  logits(ids: tf.Tensor2D, options: ForwardOptions = {}): tf.Tensor3D {
    const [B, T] = ids.shape;
    return tf.reshape(this.unembed(this.hidden(ids, options)), [B, T, this.config.vocabSize]) as tf.Tensor3D;
  }

  /**
   * Incremental decoding with a key/value cache. `first()` runs the prompts (padded at the end to
   * the longest) and returns next-token logits [B·V] at each prompt's last position; `next(tokens)`
   * appends one token per row at position len_b + j and returns the logits after it, attending
   * over the cached keys/values (positions after it masked). Same maths as `hidden` on the whole
   * sequence; tested against it and against PyTorch.
   */
  decoder(prompts: number[][], maxNew: number): { first(): Promise<Float32Array>; next(tokens: number[]): Promise<Float32Array>; dispose(): void } {
    const c = this.config;
    const B = prompts.length;
    const lengths = prompts.map((p) => p.length);
    const T0 = Math.max(...lengths);
    const Tmax = Math.max(...lengths.map((n) => n + maxNew));
    this.checkLength(Tmax);
    const cache = { layers: [] as LayerCache[], length: Tmax };
    let appended = 0;
    const read = (logits: tf.Tensor) => readAndDispose(logits);
    return {
      first: () => {
        const ids = new Int32Array(B * T0);
        prompts.forEach((p, b) => ids.set(p, b * T0));
        return read(
          tf.tidy(() =>
            this.logitsAt(
              this.hidden(tf.tensor2d(ids, [B, T0], "int32"), {}, cache),
              Int32Array.from(lengths, (n, b) => b * T0 + n - 1),
            ),
          ),
        );
      },
      next: (tokens: number[]) => {
        const at = Int32Array.from(lengths, (n) => n + appended);
        if (Math.max(...at) >= Tmax) throw new Error(`decoder: more than ${maxNew} new tokens`);
        appended++;
        return read(
          tf.tidy(() => {
            const put = tf.reshape(tf.oneHot(tf.tensor1d(at, "int32"), Tmax), [B, 1, Tmax, 1]);
            const keep = tf.sub(1, put);
            const visible = Float32Array.from({ length: B * Tmax }, (_, i) => (i % Tmax <= at[Math.floor(i / Tmax)] ? 0 : -1e9));
            const maskAdd = tf.tensor4d(visible, [B, 1, 1, Tmax]);
            const rot = c.family === "llama" ? this.rotary(at, B, 1) : null;
            let x = this.embed(tf.tensor1d(tokens, "int32"), at);
            for (let l = 0; l < c.layers; l++) {
              const store = (k: tf.Tensor4D, v: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] => {
                const layer = cache.layers[l];
                const k2 = tf.keep(tf.add(tf.mul(layer.keys, keep), tf.mul(k, put)) as tf.Tensor4D);
                const v2 = tf.keep(tf.add(tf.mul(layer.values, keep), tf.mul(v, put)) as tf.Tensor4D);
                layer.keys.dispose();
                layer.values.dispose();
                layer.keys = k2;
                layer.values = v2;
                return [k2, v2];
              };
              x = this.block(x, l, B, 1, rot, maskAdd, store, {});
            }
            return this.unembed(this.finalNorm(x));
          }),
        );
      },
      dispose: () => {
        for (const layer of cache.layers) {
          layer.keys.dispose();
          layer.values.dispose();
        }
      },
    };
  }

  /** Current weights by checkpoint name (copies). */
  async weights(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [k, v] of this.params) out.set(k, Float32Array.from((await v.data()) as Float32Array));
    return out;
  }

  dispose(): void {
    if (!this.sharedParams) for (const v of this.params.values()) v.dispose();
  }
}

/** Files of a model folder that describe the tokenizer and generation, copied into derived folders unchanged. */
const COMPANION_FILES = ["tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json", "chat_template.jinja"];

/**
 * Writes a full model folder in Hugging Face's layout: config.json (the source config with
 * torch_dtype set to what is written), model.safetensors with the checkpoint names, and the
 * source folder's tokenizer and generation files. The folder appears complete or not at all.
 */
export async function writeModelFolder(
  outDir: string,
  config: ModelConfig,
  weights: Map<string, Float32Array>,
  sourceDir: string | null,
  dtype: FloatDtype = "F32",
): Promise<void> {
  const tensors = expectedTensors(config).map(([name, shape]) => {
    const data = weights.get(name);
    if (!data) throw new Error(`writeModelFolder: no weights for ${name}`);
    return { name, shape, data, dtype };
  });
  await writeFolderAtomic(outDir, (tmp) => {
    const torchDtype = { F32: "float32", F16: "float16", BF16: "bfloat16" }[dtype];
    fs.writeFileSync(path.join(tmp, "config.json"), JSON.stringify({ ...config.raw, torch_dtype: torchDtype }, null, 2) + "\n");
    fs.writeFileSync(path.join(tmp, "model.safetensors"), encodeSafetensors(tensors));
    if (sourceDir) for (const f of COMPANION_FILES) if (fs.existsSync(path.join(sourceDir, f))) fs.copyFileSync(path.join(sourceDir, f), path.join(tmp, f));
  });
}
