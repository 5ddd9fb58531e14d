/**
 * A pretrained Hugging Face causal LM as a `TextPolicy`, so every method (StepAgent implicit and
 * inverse, SFT, RFT, outcome PPO, ETO, IPR) trains it without special cases.
 *
 * Prompt formats:
 *   chat   the model's chat template with the state as the user turn (after an optional system
 *          message) and the generation prompt; the action is the assistant's reply, ended by the
 *          tokenizer's end-of-sequence token (e.g. <|im_end|>).
 *   react  plain ReAct text: state + "\nAction:", then " " + action + "\n" — the newline ends the
 *          action, as in the OpenAI-compatible client's prompt convention.
 * log π(a|s) = the sum of the log-probs of the action's tokens and its end token. A state too long
 * for the context is cut from the left, the same way for scoring and sampling.
 *
 * Training: LoRA adapters on a frozen base by default (see lora.ts), or every weight with
 * `lora: false` (full fine-tuning, for small models). `sequenceLogProb` is the training pass (adapter
 * dropout on); `logProbs` and `sample` run without dropout.
 */
import * as fs from "node:fs";
import { readAndDispose, tf } from "../backend";
import { InputError } from "../core/errors";
import type { Rng } from "../core/rng";
import { layOutByPair, sumScored, type TextPolicy, type TokenDistributions } from "../policies/text_policy";
import { Lora, type LoraOptions } from "./lora";
import { HfCausalLM, RECOMPUTE_ABOVE_BYTES, readWeights } from "./model";
import { readConfig } from "./config";
import { HfTokenizer } from "./tokenizer";
import { generate } from "./generate";

export type PromptFormat = "chat" | "react";

export interface HfPolicyOptions {
  /** Default: "chat" when the tokenizer has a chat template, else "react". */
  format?: PromptFormat;
  /** System message for the chat format (none by default). */
  system?: string;
  /** Longest action sampled (tokens, without the end token). Default 32. */
  maxActionTokens?: number;
  /** Longest sequence (prompt + action + end). Default min(the model's positions, 1024). */
  maxContext?: number;
  /** LoRA settings (defaults in lora.ts), an adapter folder to load, adapters already on the model, or false to train every weight. */
  lora?: LoraOptions | { adapter: string } | Lora | false;
}

export interface EncodedPairs {
  ids: Int32Array; // [B, T], padded at the end
  /** Flat positions b·T + t whose next token is scored, and that token. */
  positions: Int32Array;
  targets: Int32Array;
  owner: Int32Array;
  batch: number;
  length: number;
}

export class HfPolicy implements TextPolicy {
  readonly model: HfCausalLM;
  readonly tokenizer: HfTokenizer;
  readonly format: PromptFormat;
  readonly system: string | undefined;
  readonly maxActionTokens: number;
  readonly maxContext: number;
  readonly lora: Lora | null;
  /** The token that ends an action when scoring. */
  readonly endId: number;
  private stopIds: Set<number> | null = null;

  constructor(model: HfCausalLM, tokenizer: HfTokenizer, options: HfPolicyOptions = {}) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.format = options.format ?? (tokenizer.hasChatTemplate ? "chat" : "react");
    if (this.format !== "chat" && this.format !== "react") throw new InputError("--prompt-format", `must be chat or react, got ${JSON.stringify(this.format)}`);
    if (this.format === "chat" && !tokenizer.hasChatTemplate)
      throw new InputError("--prompt-format", "chat needs a chat template in tokenizer_config.json; use react");
    this.system = options.system;
    this.maxActionTokens = options.maxActionTokens ?? 32;
    this.maxContext = Math.min(options.maxContext ?? 1024, model.config.maxPositions);
    if (this.maxContext < this.maxActionTokens + 16)
      throw new InputError("--max-context", `${this.maxContext} leaves no room for a state before ${this.maxActionTokens} action tokens`);
    if (tokenizer.size > model.config.vocabSize) {
      throw new InputError(
        "tokenizer.json",
        `knows ${tokenizer.size} tokens but config.json's vocab_size is ${model.config.vocabSize}: tokenizer and model do not belong together`,
      );
    }
    if (this.format === "chat") {
      const eos = tokenizer.eosId ?? model.config.eosTokenIds[0];
      if (eos === undefined || eos === null) throw new InputError("tokenizer_config.json: eos_token", "missing; the chat format needs an end-of-turn token");
      this.endId = eos;
    } else {
      const nl = tokenizer.encode("\n");
      if (nl.length !== 1) throw new InputError("tokenizer.json", "a newline is not one token; the react format needs it to end actions");
      this.endId = nl[0];
    }
    if (options.lora instanceof Lora) {
      if (options.lora.model !== model) throw new Error("HfPolicy: the given adapters belong to another model");
      this.lora = options.lora;
    } else if (options.lora === false) {
      for (const v of model.params.values()) if (!v.trainable) v.trainable = true;
      this.lora = null;
    } else if (options.lora && "adapter" in options.lora) this.lora = Lora.load(model, options.lora.adapter);
    else this.lora = Lora.attach(model, options.lora ?? {});
  }

  /** Loads model, tokenizer and (by default new) LoRA adapters from a Hugging Face model folder. */
  static load(dir: string, options: HfPolicyOptions = {}): HfPolicy {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new InputError(dir, "no such folder (a Hugging Face model folder is expected)");
    // The cheap checks first: config and tokenizer, then the weights.
    const config = readConfig(dir);
    const tokenizer = HfTokenizer.load(dir);
    const model = new HfCausalLM(config, readWeights(dir, config), { dir, trainable: options.lora === false });
    try {
      return new HfPolicy(model, tokenizer, options);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  private render(state: string): number[] {
    if (this.format === "react") return this.tokenizer.encode(`${state}\nAction:`, { addSpecial: true });
    const messages = [...(this.system === undefined ? [] : [{ role: "system", content: this.system }]), { role: "user", content: state }];
    return this.tokenizer.encode(this.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }));
  }

  /** The prompt's token ids; a long state is cut from the left until prompt + action room fits. */
  prompt(state: string): number[] {
    const room = this.maxContext - this.maxActionTokens - 1;
    let ids = this.render(state);
    let text = state;
    for (let tries = 0; ids.length > room; tries++) {
      if (tries > 8 || text.length === 0) throw new InputError("state", `the prompt format alone takes ${ids.length} tokens, more than the ${room} available`);
      const stateIds = this.tokenizer.encode(text);
      const keep = Math.max(0, stateIds.length - (ids.length - room) - tries);
      text = this.tokenizer.decode(stateIds.slice(stateIds.length - keep));
      ids = this.render(text);
    }
    return ids;
  }

  /** The action's token ids (cut to maxActionTokens), without the end token. */
  actionIds(action: string): number[] {
    const ids = this.format === "react" ? this.tokenizer.encode(` ${action}`) : this.tokenizer.encode(action);
    return ids.slice(0, this.maxActionTokens);
  }

  scoredTokens(_states: string[], actions: string[]): number[] {
    return actions.map((a) => this.actionIds(a).length + 1);
  }

  encode(states: string[], actions: string[]): EncodedPairs {
    const B = states.length;
    const prompts = states.map((s) => this.prompt(s));
    const seqs = prompts.map((p, b) => [...p, ...this.actionIds(actions[b]), this.endId]);
    const T = Math.max(...seqs.map((s) => s.length));
    const ids = new Int32Array(B * T);
    const positions: number[] = [];
    const targets: number[] = [];
    const owner: number[] = [];
    seqs.forEach((seq, b) => {
      ids.set(seq, b * T);
      for (let t = prompts[b].length - 1; t < seq.length - 1; t++) {
        positions.push(b * T + t);
        targets.push(seq[t + 1]);
        owner.push(b);
      }
    });
    return { ids, positions: Int32Array.from(positions), targets: Int32Array.from(targets), owner: Int32Array.from(owner), batch: B, length: T };
  }

  /** Log-softmax rows [N, V] at the scored positions of an encoded batch (differentiable). */
  private scoredLogSoftmax(e: EncodedPairs, training: boolean, dropout = training): tf.Tensor2D {
    // A gradient pass without dropout still recomputes blocks where a training pass would.
    const options = dropout
      ? { training: true }
      : { training: false, recompute: training && this.model.activationBytes(e.batch, e.length) > RECOMPUTE_ABOVE_BYTES };
    const hidden = this.model.hidden(tf.tensor2d(e.ids, [e.batch, e.length], "int32"), options);
    return tf.logSoftmax(this.model.logitsAt(hidden, e.positions));
  }

  /** log π(a|s) per pair of an encoded batch, [B] (differentiable). */
  encodedLogProb(e: EncodedPairs, training: boolean): tf.Tensor1D {
    return sumScored(this.scoredLogSoftmax(e, training), e.targets, e.owner, e.batch);
  }

  sequenceLogProb(states: string[], actions: string[]): tf.Tensor1D {
    return this.encodedLogProb(this.encode(states, actions), true);
  }

  /**
   * Differentiable, but without adapter dropout: these distributions are compared with a frozen
   * snapshot's (the PPO ratio and the exact KL), and with dropout on only one side the KL would not
   * be 0 at θ = π_k, nor every ratio 1 at the first step.
   */
  nextTokenLogProbs(states: string[], actions: string[]): TokenDistributions {
    const e = this.encode(states, actions);
    return layOutByPair(this.scoredLogSoftmax(e, true, false), e.targets, e.owner, e.batch);
  }

  async logProbs(states: string[], actions: string[], batchSize = 8): Promise<Float64Array> {
    const out = new Float64Array(states.length);
    for (let i = 0; i < states.length; i += batchSize) {
      const e = this.encode(states.slice(i, i + batchSize), actions.slice(i, i + batchSize));
      out.set(Float64Array.from(await readAndDispose(tf.tidy(() => this.encodedLogProb(e, false)))), i);
    }
    return out;
  }

  /** Per-token log-probs of `action` after `state` (the action's tokens, then the end token). */
  async tokenLogProbs(state: string, action: string): Promise<{ ids: number[]; logprobs: number[] }> {
    const e = this.encode([state], [action]);
    const V = this.model.config.vocabSize;
    const rows = await readAndDispose(tf.tidy(() => this.scoredLogSoftmax(e, false)));
    const ids = Array.from(e.targets);
    return { ids, logprobs: ids.map((id, j) => rows[j * V + id]) };
  }

  /** Tokens that end a sampled action: the end token, the model's eos ids and, for react, any token containing a newline. */
  private stops(): Set<number> {
    if (this.stopIds) return this.stopIds;
    const s = new Set<number>([this.endId, ...this.model.config.eosTokenIds]);
    if (this.tokenizer.eosId !== null) s.add(this.tokenizer.eosId);
    if (this.format === "react") for (let id = 0; id < this.tokenizer.size; id++) if (this.tokenizer.decode([id]).includes("\n")) s.add(id);
    this.stopIds = s;
    return s;
  }

  /** The action text of sampled ids (the react format's leading space and anything after a newline dropped). */
  private decodeAction(ids: number[]): string {
    const text = this.tokenizer.decode(ids, { skipSpecial: true });
    if (this.format === "chat") return text;
    const line = text.split("\n")[0];
    return line.startsWith(" ") ? line.slice(1) : line;
  }

  async sample(states: string[], rng: Rng, temperature = 1, batchSize = 8): Promise<string[]> {
    const out: string[] = [];
    const options = { rng, temperature, maxNew: this.maxActionTokens, stops: this.stops(), vocabLimit: this.tokenizer.size };
    for (let i = 0; i < states.length; i += batchSize) {
      const generated = await generate(
        this.model,
        states.slice(i, i + batchSize).map((s) => this.prompt(s)),
        options,
      );
      for (const g of generated) out.push(this.decodeAction(g.ids));
    }
    return out;
  }

  /**
   * With adapters: a second model on the same frozen base weights with a copy of the adapters
   * (dropout off), costing one copy of the adapters. With full fine-tuning: a copy of every weight.
   */
  async snapshot(): Promise<HfPolicy> {
    const options = { format: this.format, system: this.system, maxActionTokens: this.maxActionTokens, maxContext: this.maxContext };
    if (!this.lora) {
      const model = new HfCausalLM(this.model.config, await this.model.weights(), { dir: this.model.dir ?? undefined });
      return new HfPolicy(model, this.tokenizer, { ...options, lora: false });
    }
    const model = this.model.sharingBase();
    try {
      return new HfPolicy(model, this.tokenizer, { ...options, lora: await this.lora.copyTo(model, 0) });
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  trainable(): tf.Variable[] {
    return this.lora ? this.lora.variables() : this.model.trainableBase();
  }

  /** Base weights by checkpoint name and adapter weights by PEFT name (copies). */
  async weights(): Promise<Map<string, Float32Array>> {
    const out = await this.model.weights();
    if (this.lora) for (const t of await this.lora.tensors()) out.set(t.name, t.data);
    return out;
  }

  /** What training changes (copies): the adapters by PEFT name, or every base weight after full fine-tuning. */
  async trainedWeights(): Promise<Map<string, Float32Array>> {
    if (this.lora) return new Map((await this.lora.tensors()).map((t) => [t.name, t.data]));
    return this.model.weights();
  }

  /**
   * Puts back what `trainedWeights` returned (e.g. a shared SFT warm start) and starts the adapters'
   * dropout masks over from their seed, so that training from here draws the same masks whichever
   * run restored it.
   */
  restore(weights: Map<string, Float32Array>): void {
    if (this.lora) {
      this.lora.assign(weights);
      this.lora.restartDropout();
      return;
    }
    for (const [name, v] of this.model.params) {
      const data = weights.get(name);
      if (!data || data.length !== v.size)
        throw new InputError("model weights", `${name} is ${data ? `${data.length} values, expected ${v.size}` : "missing"}`);
    }
    for (const [name, v] of this.model.params) tf.tidy(() => v.assign(tf.tensor(weights.get(name)!, v.shape)));
  }

  dispose(): void {
    this.lora?.dispose();
    this.model.dispose();
  }
}
