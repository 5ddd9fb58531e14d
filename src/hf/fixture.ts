/**
 * Tiny random checkpoints in Hugging Face's exact folder layout (config.json, model.safetensors or
 * shards + index, tokenizer.json, tokenizer_config.json with a chat template,
 * generation_config.json), so loaders and references read what a real download holds. The tests
 * write them, and so does the pretrained-model notebook when no real model folder is given: a
 * fixture model has random weights and a 265-token byte-level BPE, so it exercises the pipeline,
 * not language ability.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Rng } from "../core/rng";
import { encodeSafetensors, type FloatDtype, type TensorToWrite } from "./safetensors";
import { expectedTensors, parseConfig } from "./config";

/**
 * GPT-2's byte ↔ character table: printable bytes map to themselves, the others to U+0100 + n in
 * byte order. The order of this list is also the order of the first 256 token ids.
 */
export function byteChars(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const chars = new Map<number, string>();
  for (const b of printable) chars.set(b, String.fromCharCode(b));
  let n = 0;
  for (let b = 0; b < 256; b++) if (!chars.has(b)) chars.set(b, String.fromCharCode(256 + n++));
  const order = [...printable, ...Array.from({ length: 256 }, (_, b) => b).filter((b) => !printable.includes(b))];
  return order.map((b) => chars.get(b)!);
}

/** Merges of the fixture BPE, in rank order; merge i creates token 256 + i. */
export const MERGES = ["h e", "l l", "Ġ t", "Ġt he", "he ll", "hell o"];
export const SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
export const FIXTURE_VOCAB = 256 + MERGES.length + SPECIALS.length; // 265

export const CHAT_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export function tokenizerJson(): object {
  const vocab: Record<string, number> = {};
  byteChars().forEach((c, i) => (vocab[c] = i));
  MERGES.forEach((m, i) => (vocab[m.replace(" ", "")] = 256 + i));
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content, i) => ({
      id: 256 + MERGES.length + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: MERGES,
    },
  };
}

export type FixtureKind = "gpt2" | "llama" | "qwen2" | "mistral";

export interface FixtureOptions {
  kind: FixtureKind;
  dtype?: FloatDtype;
  seed?: number;
  /** Split the weights over this many shards (with model.safetensors.index.json). */
  shards?: number;
  layers?: number;
  hidden?: number;
  heads?: number;
  kvHeads?: number;
  tied?: boolean;
  /** Extra config.json keys (override). */
  config?: Record<string, unknown>;
  /** Write GPT-2 names without the "transformer." prefix, as the original uploads do. */
  bareGpt2Names?: boolean;
  /**
   * Also write the buffers older exports carry and the forward pass ignores: GPT-2's causal-mask
   * "attn.bias" and "attn.masked_bias", Llama's "rotary_emb.inv_freq".
   */
  buffers?: boolean;
}

export function fixtureConfig(o: FixtureOptions): Record<string, unknown> {
  const V = FIXTURE_VOCAB;
  const d = o.hidden ?? 16;
  const H = o.heads ?? 4;
  const eos = 256 + MERGES.length + 2; // <|im_end|>
  const bos = 256 + MERGES.length; // <|endoftext|>
  if (o.kind === "gpt2") {
    return {
      architectures: ["GPT2LMHeadModel"],
      model_type: "gpt2",
      vocab_size: V,
      n_embd: d,
      n_layer: o.layers ?? 2,
      n_head: H,
      n_positions: 64,
      n_ctx: 64,
      n_inner: null,
      activation_function: "gelu_new",
      layer_norm_epsilon: 1e-5,
      bos_token_id: bos,
      eos_token_id: eos,
      torch_dtype: "float32",
      ...o.config,
    };
  }
  const common = {
    vocab_size: V,
    hidden_size: d,
    intermediate_size: 2 * d + 8,
    num_hidden_layers: o.layers ?? 2,
    num_attention_heads: H,
    num_key_value_heads: o.kvHeads ?? H,
    hidden_act: "silu",
    max_position_embeddings: 64,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: o.tied ?? false,
    bos_token_id: bos,
    eos_token_id: eos,
    torch_dtype: "float32",
  };
  if (o.kind === "llama")
    return { architectures: ["LlamaForCausalLM"], model_type: "llama", attention_bias: false, mlp_bias: false, rope_scaling: null, ...common, ...o.config };
  if (o.kind === "qwen2")
    return {
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      use_sliding_window: false,
      sliding_window: 4096,
      max_window_layers: 2,
      ...common,
      ...o.config,
    };
  return { architectures: ["MistralForCausalLM"], model_type: "mistral", sliding_window: null, ...common, ...o.config };
}

/** Random weights for a config: normal·0.3 for matrices, 1 + normal·0.1 for norm gains, normal·0.1 for biases. */
export function fixtureWeights(config: Record<string, unknown>, seed: number): Map<string, { shape: number[]; data: Float32Array }> {
  const c = parseConfig(config);
  const rng = new Rng(seed).fork("hf-fixture");
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of expectedTensors(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isNorm = /(ln_\d|ln_f|layernorm|norm)\.weight$/.test(name);
    for (let i = 0; i < n; i++) data[i] = isNorm ? 1 + 0.1 * rng.normal() : name.endsWith(".bias") ? 0.1 * rng.normal() : 0.3 * rng.normal();
    out.set(name, { shape, data });
  }
  return out;
}

/** Writes a whole model folder; returns its config. */
export function writeFixtureModel(dir: string, o: FixtureOptions): Record<string, unknown> {
  fs.mkdirSync(dir, { recursive: true });
  const config = fixtureConfig(o);
  const weights = fixtureWeights(config, o.seed ?? 0);
  const tensors: TensorToWrite[] = [...weights].map(([name, w]) => ({
    name: o.kind === "gpt2" && o.bareGpt2Names ? name.replace(/^transformer\./, "") : name,
    shape: w.shape,
    data: w.data,
    dtype: o.dtype ?? "F32",
  }));
  if (o.buffers) {
    const c = parseConfig(config);
    for (let l = 0; l < c.layers; l++) {
      if (c.family === "gpt2") {
        const P = c.maxPositions;
        const mask = Float32Array.from({ length: P * P }, (_, i) => (i % P <= Math.floor(i / P) ? 1 : 0));
        const p = o.bareGpt2Names ? `h.${l}` : `transformer.h.${l}`;
        tensors.push(
          { name: `${p}.attn.bias`, shape: [1, 1, P, P], data: mask, dtype: "F32" },
          { name: `${p}.attn.masked_bias`, shape: [], data: Float32Array.of(-1e4), dtype: "F32" },
        );
      } else {
        const inv = Float32Array.from({ length: c.headDim / 2 }, (_, j) => 1 / c.ropeTheta ** ((2 * j) / c.headDim));
        tensors.push({ name: `model.layers.${l}.self_attn.rotary_emb.inv_freq`, shape: [c.headDim / 2], data: inv, dtype: "F32" });
      }
    }
  }
  const shards = o.shards ?? 1;
  if (shards <= 1) fs.writeFileSync(path.join(dir, "model.safetensors"), encodeSafetensors(tensors));
  else {
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
      const part = tensors.filter((_, i) => i % shards === s);
      for (const t of part) weightMap[t.name] = file;
      fs.writeFileSync(path.join(dir, file), encodeSafetensors(part));
    }
    fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2));
  }
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  fs.writeFileSync(path.join(dir, "generation_config.json"), JSON.stringify({ bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id }, null, 2));
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson()));
  fs.writeFileSync(
    path.join(dir, "tokenizer_config.json"),
    JSON.stringify(
      {
        add_prefix_space: false,
        bos_token: "<|endoftext|>",
        eos_token: "<|im_end|>",
        pad_token: "<|endoftext|>",
        unk_token: "<|endoftext|>",
        model_max_length: 64,
        tokenizer_class: "GPT2Tokenizer",
        chat_template: CHAT_TEMPLATE,
        clean_up_tokenization_spaces: false,
      },
      null,
      2,
    ),
  );
  return config;
}
