/**
 * LoRA (Hu et al. 2021) on a frozen `HfCausalLM`: each targeted linear layer W gains
 * y += (alpha / r) · dropout(x) · Aᵀ · Bᵀ with A [r, in] and B [out, r]; only A and B train, so an
 * optimiser holds state for them alone. Initialisation as in PEFT: A uniform in ±1/√in, B zero,
 * so an untrained adapter leaves the model's outputs unchanged.
 *
 * Defaults: r = 8, alpha = 16, dropout = 0.05 (on the adapter's input, in training passes only),
 * targets q_proj and v_proj for the Llama family and c_attn (the fused q/k/v) for GPT-2 — PEFT's
 * own defaults for those architectures.
 *
 * Saved in PEFT's format, so `PeftModel.from_pretrained(base, dir)` loads it: adapter_config.json
 * and adapter_model.safetensors with tensors named "base_model.model.<module>.lora_A.weight" and
 * "….lora_B.weight", <module> being the path in the `…ForCausalLM` model (e.g.
 * "model.layers.0.self_attn.q_proj", "transformer.h.0.attn.c_attn"). `merge` writes a full model
 * folder in Hugging Face's layout with W + (alpha/r)·B·A.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { tf } from "../backend";
import { InputError } from "../core/errors";
import { Rng } from "../core/rng";
import { writeFolderAtomic } from "../core/atomic";
import type { ModelConfig } from "./config";
import { expectedTensors } from "./config";
import { writeModelFolder, type HfCausalLM, type LinearAdapter } from "./model";
import { encodeSafetensors, readHeader, readTensor, type FloatDtype } from "./safetensors";

export interface LoraOptions {
  /** Rank r. Default 8. */
  r?: number;
  /** Scale numerator: the update is (alpha / r)·B·A. Default 16. */
  alpha?: number;
  /** Dropout on the adapter input during training. Default 0.05. */
  dropout?: number;
  /** Module names (a module matches a target equal to its name or its last dotted parts). */
  targets?: string[];
  /** Seeds A's initialisation and the dropout masks. Default 0. */
  seed?: number;
}

export const LORA_DEFAULTS = { r: 8, alpha: 16, dropout: 0.05 };

export function defaultTargets(c: ModelConfig): string[] {
  return c.family === "gpt2" ? ["c_attn"] : ["q_proj", "v_proj"];
}

/** The model's linear modules with their [out, in] sizes. */
export function linearModules(c: ModelConfig): { module: string; out: number; in: number }[] {
  const out: { module: string; out: number; in: number }[] = [];
  for (const [name, shape] of expectedTensors(c)) {
    if (!name.endsWith(".weight") || shape.length !== 2 || /(wte|wpe|embed_tokens)\.weight$/.test(name) || name === "lm_head.weight") continue;
    const module = name.slice(0, -".weight".length);
    // GPT-2's Conv1D stores [in, out]; Linear stores [out, in].
    out.push(c.family === "gpt2" ? { module, in: shape[0], out: shape[1] } : { module, out: shape[0], in: shape[1] });
  }
  return out;
}

function matches(module: string, targets: string[] | string): boolean {
  if (typeof targets === "string") return new RegExp(`^(?:${targets})$`).test(module);
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

class LoraLinear implements LinearAdapter {
  constructor(
    readonly A: tf.Variable,
    readonly B: tf.Variable,
    private readonly scale: number,
    private readonly dropout: number,
    /** The dropout seed counter, shared by all adapters of one Lora. */
    private readonly seeds: { counter: number },
  ) {}

  delta(x: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const input = training && this.dropout > 0 ? (tf.dropout(x, this.dropout, undefined, this.nextSeed()) as tf.Tensor2D) : x;
    return tf.mul(tf.matMul(tf.matMul(input, this.A as unknown as tf.Tensor2D, false, true), this.B as unknown as tf.Tensor2D, false, true), this.scale);
  }

  private nextSeed(): number {
    return (this.seeds.counter = (this.seeds.counter + 1) % 2147483647);
  }

  variables(): tf.Variable[] {
    return [this.A, this.B];
  }

  seedState(): number {
    return this.seeds.counter;
  }

  setSeedState(state: number): void {
    this.seeds.counter = state;
  }
}

let instances = 0;

function variableOf(data: Float32Array, shape: [number, number], name: string): tf.Variable {
  const init = tf.tensor2d(data, shape);
  const v = tf.variable(init, true, name);
  init.dispose();
  return v;
}

export class Lora {
  readonly model: HfCausalLM;
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  /** As written to adapter_config.json (a list, or PEFT's regular-expression string). */
  readonly targets: string[] | string;
  readonly useRslora: boolean;
  readonly modules: Map<string, LoraLinear>;
  private readonly seed: number;
  /** The dropout seed counter, shared with every adapter (a backward-pass recomputation rewinds it). */
  private readonly seeds: { counter: number };

  private constructor(
    model: HfCausalLM,
    o: { r: number; alpha: number; dropout: number; targets: string[] | string; seed: number; useRslora?: boolean },
    weights?: Map<string, { A: Float32Array; B: Float32Array }>,
  ) {
    if (model.adapters.size) throw new Error("this model already has adapters attached");
    this.model = model;
    this.r = o.r;
    this.alpha = o.alpha;
    this.dropout = o.dropout;
    this.targets = o.targets;
    this.useRslora = o.useRslora ?? false;
    this.seed = o.seed;
    this.seeds = { counter: 0 };
    this.restartDropout();
    const scale = this.scale;
    const rng = new Rng(o.seed).fork("lora-init");
    const id = ++instances;
    this.modules = new Map();
    const chosen = linearModules(model.config).filter((m) => matches(m.module, o.targets));
    if (chosen.length === 0) {
      const names = [...new Set(linearModules(model.config).map((m) => m.module.split(".").pop()))].join(", ");
      throw new InputError("LoRA targets", `${JSON.stringify(o.targets)} match no linear layer of this ${model.config.modelType} model (its layers: ${names})`);
    }
    for (const m of chosen) {
      const w = weights?.get(m.module);
      const a = w?.A ?? Float32Array.from({ length: o.r * m.in }, () => (2 * rng.uniform() - 1) / Math.sqrt(m.in));
      const b = w?.B ?? new Float32Array(m.out * o.r);
      const A = variableOf(a, [o.r, m.in], `lora${id}/${m.module}.lora_A`);
      const B = variableOf(b, [m.out, o.r], `lora${id}/${m.module}.lora_B`);
      this.modules.set(m.module, new LoraLinear(A, B, scale, o.dropout, this.seeds));
    }
    for (const [module, adapter] of this.modules) model.adapters.set(module, adapter);
  }

  /** New adapters (B = 0) on `model`, whose base weights should be frozen. */
  static attach(model: HfCausalLM, options: LoraOptions = {}): Lora {
    const r = options.r ?? LORA_DEFAULTS.r;
    const alpha = options.alpha ?? LORA_DEFAULTS.alpha;
    const dropout = options.dropout ?? LORA_DEFAULTS.dropout;
    if (!Number.isInteger(r) || r < 1) throw new InputError("--lora-rank", `must be a positive integer, got ${r}`);
    if (!(alpha > 0) || !Number.isFinite(alpha)) throw new InputError("--lora-alpha", `must be a positive number, got ${alpha}`);
    if (!(dropout >= 0 && dropout < 1)) throw new InputError("--lora-dropout", `must be in [0, 1), got ${dropout}`);
    return new Lora(model, { r, alpha, dropout, targets: options.targets ?? defaultTargets(model.config), seed: options.seed ?? 0 });
  }

  /** A copy of these adapters, at their current values, on `model` (another model on the same base), with `dropout`. */
  async copyTo(model: HfCausalLM, dropout = this.dropout): Promise<Lora> {
    const weights = new Map<string, { A: Float32Array; B: Float32Array }>();
    for (const [module, m] of this.modules) {
      weights.set(module, { A: Float32Array.from((await m.A.data()) as Float32Array), B: Float32Array.from((await m.B.data()) as Float32Array) });
    }
    const o = { r: this.r, alpha: this.alpha, dropout, targets: this.targets, seed: 0, useRslora: this.useRslora };
    return new Lora(model, o, weights);
  }

  /** The update's scale: alpha / r (alpha / √r with rsLoRA, as PEFT's use_rslora). */
  get scale(): number {
    return this.useRslora ? this.alpha / Math.sqrt(this.r) : this.alpha / this.r;
  }

  /** The adapter variables, A then B per module, in module order. */
  variables(): tf.Variable[] {
    return [...this.modules.values()].flatMap((m) => [m.A, m.B]);
  }

  /**
   * Starts the dropout masks over from the seed, as just after `attach`: training from restored
   * adapter values then draws the same masks as a run that trained them in place.
   */
  restartDropout(): void {
    this.seeds.counter = (this.seed * 1000003) % 2147483647;
  }

  /** Sets the adapters to values `tensors()` returned (by PEFT name); every adapter must be given, with its size. */
  assign(values: Map<string, Float32Array>): void {
    const pairs: [tf.Variable, Float32Array][] = [];
    for (const [module, m] of this.modules) {
      for (const [which, v] of [
        ["A", m.A],
        ["B", m.B],
      ] as const) {
        const name = `base_model.model.${module}.lora_${which}.weight`;
        const data = values.get(name);
        if (!data || data.length !== v.size)
          throw new InputError("adapter weights", `${name} is ${data ? `${data.length} values, expected ${v.size}` : "missing"}`);
        pairs.push([v, data]);
      }
    }
    if (values.size !== pairs.length) throw new InputError("adapter weights", `${values.size} tensors given, these adapters have ${pairs.length}`);
    for (const [v, data] of pairs) tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
  }

  /** PEFT's tensor names and current values. */
  async tensors(): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
    const out: { name: string; shape: number[]; data: Float32Array }[] = [];
    for (const [module, m] of this.modules) {
      out.push({ name: `base_model.model.${module}.lora_A.weight`, shape: m.A.shape, data: Float32Array.from((await m.A.data()) as Float32Array) });
      out.push({ name: `base_model.model.${module}.lora_B.weight`, shape: m.B.shape, data: Float32Array.from((await m.B.data()) as Float32Array) });
    }
    return out;
  }

  adapterConfig(): Record<string, unknown> {
    return {
      peft_type: "LORA",
      task_type: "CAUSAL_LM",
      base_model_name_or_path: this.model.dir ? path.resolve(this.model.dir) : null,
      revision: null,
      r: this.r,
      lora_alpha: this.alpha,
      lora_dropout: this.dropout,
      target_modules: this.targets,
      fan_in_fan_out: this.model.config.family === "gpt2",
      bias: "none",
      use_rslora: this.useRslora,
      use_dora: false,
      init_lora_weights: true,
      inference_mode: true,
      modules_to_save: null,
      layers_to_transform: null,
      layers_pattern: null,
      rank_pattern: {},
      alpha_pattern: {},
    };
  }

  /** Writes adapter_config.json + adapter_model.safetensors into `dir` (replaced as a whole, never half-written). */
  async save(dir: string): Promise<void> {
    const tensors = await this.tensors();
    await writeFolderAtomic(dir, (tmp) => {
      fs.writeFileSync(path.join(tmp, "adapter_config.json"), JSON.stringify(this.adapterConfig(), null, 2) + "\n");
      fs.writeFileSync(path.join(tmp, "adapter_model.safetensors"), encodeSafetensors(tensors));
    });
  }

  /** Loads a PEFT LoRA folder onto `model`, checking the config and every tensor's name and shape first. */
  static load(model: HfCausalLM, dir: string): Lora {
    const cfgFile = path.join(dir, "adapter_config.json");
    let cfg: Record<string, unknown>;
    try {
      cfg = JSON.parse(fs.readFileSync(cfgFile, "utf8"));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new InputError(cfgFile, err.code === "ENOENT" ? "missing (not a PEFT adapter folder?)" : `not valid JSON: ${err.message}`);
    }
    const at = (k: string) => `${cfgFile}: ${k}`;
    if (cfg.peft_type !== "LORA") throw new InputError(at("peft_type"), `${JSON.stringify(cfg.peft_type)} is not supported (LORA is)`);
    const r = cfg.r;
    if (typeof r !== "number" || !Number.isInteger(r) || r < 1) throw new InputError(at("r"), `must be a positive integer, got ${JSON.stringify(r)}`);
    const alpha = cfg.lora_alpha ?? 8;
    if (typeof alpha !== "number" || !(alpha > 0)) throw new InputError(at("lora_alpha"), `must be a positive number, got ${JSON.stringify(alpha)}`);
    const dropout = cfg.lora_dropout ?? 0;
    if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1))
      throw new InputError(at("lora_dropout"), `must be in [0, 1), got ${JSON.stringify(dropout)}`);
    const targets = cfg.target_modules;
    if (!(typeof targets === "string" || (Array.isArray(targets) && targets.every((t) => typeof t === "string")))) {
      throw new InputError(at("target_modules"), `must be a list of module names or a regular expression, got ${JSON.stringify(targets)}`);
    }
    for (const [key, ok] of [
      ["use_dora", (v: unknown) => !v],
      ["bias", (v: unknown) => v === undefined || v === "none"],
      ["modules_to_save", (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.length === 0)],
      ["rank_pattern", (v: unknown) => !v || Object.keys(v as object).length === 0],
      ["alpha_pattern", (v: unknown) => !v || Object.keys(v as object).length === 0],
      ["layers_to_transform", (v: unknown) => v === undefined || v === null],
    ] as const) {
      if (!ok(cfg[key])) throw new InputError(at(key), `${JSON.stringify(cfg[key])} is not supported`);
    }
    const file = path.join(dir, "adapter_model.safetensors");
    if (!fs.existsSync(file)) throw new InputError(file, "missing (only safetensors adapters are read)");
    const header = readHeader(file);
    const modules = linearModules(model.config).filter((m) => matches(m.module, targets as string[] | string));
    const weights = new Map<string, { A: Float32Array; B: Float32Array }>();
    const seen = new Set<string>();
    for (const m of modules) {
      const get = (which: "A" | "B", shape: number[]) => {
        const name = `base_model.model.${m.module}.lora_${which}.weight`;
        const info = header.tensors.get(name);
        if (!info) throw new InputError(`${file}: tensor ${name}`, "missing");
        if (info.shape.join(",") !== shape.join(","))
          throw new InputError(`${file}: tensor ${name}`, `shape ${JSON.stringify(info.shape)}, expected ${JSON.stringify(shape)}`);
        if (!["F32", "F16", "BF16"].includes(info.dtype))
          throw new InputError(`${file}: tensor ${name}`, `dtype ${info.dtype} is not supported (F32, F16 and BF16 are)`);
        seen.add(name);
        return info;
      };
      get("A", [r, m.in]);
      get("B", [m.out, r]);
    }
    for (const name of header.tensors.keys()) {
      if (!seen.has(name)) throw new InputError(`${file}: tensor ${name}`, "does not belong to any targeted module of this model (unexpected tensor)");
    }
    for (const m of modules) {
      const read = (w: string) => readTensor(header.tensors.get(`base_model.model.${m.module}.lora_${w}.weight`)!);
      weights.set(m.module, { A: read("A"), B: read("B") });
    }
    return new Lora(model, { r, alpha, dropout, targets: targets as string[] | string, seed: 0, useRslora: cfg.use_rslora === true }, weights);
  }

  /** The base weights with every adapter folded in: W + scale·B·A (transposed for GPT-2's Conv1D). */
  async mergedWeights(): Promise<Map<string, Float32Array>> {
    const out = await this.model.weights();
    const conv = this.model.config.family === "gpt2";
    for (const [module, m] of this.modules) {
      const delta = tf.tidy(() => {
        const d = tf.mul(tf.matMul(m.B, m.A), this.scale); // [out, in]
        return conv ? tf.transpose(d) : d;
      });
      const base = tf.tensor(out.get(`${module}.weight`)!);
      const sum = tf.add(base, tf.reshape(delta, base.shape));
      out.set(`${module}.weight`, Float32Array.from((await sum.data()) as Float32Array));
      for (const t of [delta, base, sum]) t.dispose();
    }
    return out;
  }

  /**
   * Writes a full model folder in Hugging Face's layout with the adapters merged: config.json
   * (torch_dtype set to what was written), model.safetensors, and the base folder's tokenizer and
   * generation files copied unchanged.
   */
  async merge(outDir: string, options: { dtype?: FloatDtype } = {}): Promise<void> {
    await writeModelFolder(outDir, this.model.config, await this.mergedWeights(), this.model.dir, options.dtype);
  }

  /** Removes the adapters from the model and frees them. */
  dispose(): void {
    for (const [module, m] of this.modules) {
      this.model.adapters.delete(module);
      m.A.dispose();
      m.B.dispose();
    }
    this.modules.clear();
  }
}
