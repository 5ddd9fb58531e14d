/**
 * The command-line flags that put a pretrained Hugging Face model in the loop (`train --model
 * DIR`, `compare --model DIR`, `serve --model DIR`), turned into an `HfPolicy`, and what a trained
 * one writes.
 *
 *   --model DIR              a local model folder (config.json, safetensors, tokenizer.json)
 *   --adapter DIR            start from a saved PEFT LoRA adapter instead of new adapters
 *   --lora-rank N            [8]     --lora-alpha X [16]     --lora-dropout X [0.05]
 *   --lora-targets a,b       [q_proj,v_proj; GPT-2: c_attn]
 *   --full-finetune          train every weight instead of adapters (small models)
 *   --prompt-format chat|react   [chat when the tokenizer has a chat template]
 *   --max-context N          [1024]  --max-action-tokens N [32]
 *   --sft-learning-rate X    [5e-4]  --sft-batch-size N [8]
 *   --merge                  also write the adapters merged into a full model folder
 */
import * as path from "node:path";
import { InputError } from "../core/errors";
import { HfPolicy, type HfPolicyOptions } from "./policy";
import { writeModelFolder } from "./model";

export const HF_STRING_FLAGS = [
  "model",
  "adapter",
  "lora-rank",
  "lora-alpha",
  "lora-dropout",
  "lora-targets",
  "prompt-format",
  "max-context",
  "max-action-tokens",
  "sft-learning-rate",
  "sft-batch-size",
] as const;
export const HF_BOOLEAN_FLAGS = ["full-finetune", "merge"] as const;

type Values = Record<string, string | boolean | undefined>;

function num(values: Values, flag: string, fallback: number, check: (x: number) => boolean, what: string): number {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  const x = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(x) || !check(x))
    throw new InputError(`--${flag}`, `must be ${what}, got ${JSON.stringify(raw)}`);
  return x;
}

/** HF flags given without --model are mistakes, not silently ignored. */
export function checkHfFlagsNeedModel(values: Values): void {
  if (values.model !== undefined) return;
  for (const f of [...HF_STRING_FLAGS, ...HF_BOOLEAN_FLAGS])
    if (f !== "model" && values[f] !== undefined) throw new InputError(`--${f}`, "needs --model DIR (a Hugging Face model folder)");
}

export function hfPolicyOptions(values: Values, seed: number): HfPolicyOptions {
  const format = values["prompt-format"] as string | undefined;
  if (format !== undefined && format !== "chat" && format !== "react")
    throw new InputError("--prompt-format", `must be chat or react, got ${JSON.stringify(format)}`);
  const loraFlags = ["lora-rank", "lora-alpha", "lora-dropout", "lora-targets"].filter((f) => values[f] !== undefined);
  if (values["full-finetune"] && (loraFlags.length || values.adapter))
    throw new InputError("--full-finetune", `cannot be combined with ${loraFlags.length ? `--${loraFlags[0]}` : "--adapter"}`);
  if (values.adapter && loraFlags.length)
    throw new InputError(`--${loraFlags[0]}`, "the adapter folder's adapter_config.json sets this; drop the flag or --adapter");
  const isInt = (x: number) => Number.isInteger(x) && x >= 1;
  const lora = values["full-finetune"]
    ? (false as const)
    : values.adapter
      ? { adapter: String(values.adapter) }
      : {
          r: num(values, "lora-rank", 8, isInt, "a positive integer"),
          alpha: num(values, "lora-alpha", 16, (x) => x > 0, "a number > 0"),
          dropout: num(values, "lora-dropout", 0.05, (x) => x >= 0 && x < 1, "a number in [0, 1)"),
          targets:
            values["lora-targets"] === undefined
              ? undefined
              : String(values["lora-targets"])
                  .split(",")
                  .map((t) => t.trim())
                  .filter(Boolean),
          seed,
        };
  return {
    format: format as HfPolicyOptions["format"],
    lora,
    maxContext: num(values, "max-context", 1024, isInt, "a positive integer"),
    maxActionTokens: num(values, "max-action-tokens", 32, isInt, "a positive integer"),
  };
}

export function hfSftOptions(values: Values): { sftLearningRate: number; sftBatchSize: number } {
  return {
    sftLearningRate: num(values, "sft-learning-rate", 5e-4, (x) => x > 0, "a number > 0"),
    sftBatchSize: num(values, "sft-batch-size", 8, (x) => Number.isInteger(x) && x >= 1, "a positive integer"),
  };
}

/** Loads `--model DIR` as a policy with the flags' settings. */
export function loadHfPolicy(values: Values, seed: number): HfPolicy {
  return HfPolicy.load(String(values.model), hfPolicyOptions(values, seed));
}

/**
 * `--model DIR` as a run's pretrained policy (`TextTrainOptions.pretrained`): the policy and the
 * key its SFT warm start is filed under — the folder and every setting that shapes the policy, so
 * a warm start is only reused by runs with the same model and settings.
 */
export function hfPretrained(values: Values, seed: number): { policy: HfPolicy; key: string } {
  const key = JSON.stringify({ model: path.resolve(String(values.model)), ...hfPolicyOptions(values, seed) });
  return { policy: loadHfPolicy(values, seed), key };
}

/**
 * What a trained HF policy leaves in the run folder: `adapter/` (PEFT's format) and, with
 * --merge, `merged/` (a full model folder); after full fine-tuning, `model/` (a full model folder).
 * Returns the names written.
 */
export async function saveHfPolicy(dir: string, policy: HfPolicy, merge: boolean): Promise<string[]> {
  if (!policy.lora) {
    await writeModelFolder(path.join(dir, "model"), policy.model.config, await policy.model.weights(), policy.model.dir);
    return ["model"];
  }
  await policy.lora.save(path.join(dir, "adapter"));
  if (!merge) return ["adapter"];
  await policy.lora.merge(path.join(dir, "merged"));
  return ["adapter", "merged"];
}
