/**
 * `stepagent train --env household|shop|qa|recipe --method NAME --seed N --out DIR [--quick] [--json]
 *  [budget and method flags, see BUDGET_FLAGS] [--init CHECKPOINT] [--model HF_DIR [--lora-rank N …] (src/hf/cli.ts)]`
 * Writes DIR/metrics.json and DIR/policy.json (a checkpoint), both or neither; with --model,
 * DIR/metrics.json and DIR/adapter/ (PEFT LoRA) [+ DIR/merged/ with --merge].
 */
import * as path from "node:path";
import { SingleBar, Presets } from "cli-progress";
import { BUDGET_FLAGS, UsageError, budgetOptions, intOption, outFolderOption, parseFlags } from "./options";
import { initBackend, describeBackend, backendJson } from "../backend";
import { checkTextRun, trainText, textBudget, type TextTrainOptions } from "../methods/text/driver";
import { TEXT_METHODS } from "../methods/registry";
import { writeFolderAtomic, writeFileAtomic } from "../core/atomic";
import { saveCheckpoint, loadCheckpoint } from "../policies/checkpoint";
import { TransformerPolicy } from "../policies/transformer";
import { HF_BOOLEAN_FLAGS, HF_STRING_FLAGS, checkHfFlagsNeedModel, hfPretrained, hfSftOptions, saveHfPolicy } from "../hf/cli";
import { HfPolicy } from "../hf/policy";

export async function trainCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    strings: ["env", "method", "seed", "out", ...BUDGET_FLAGS, "init", ...HF_STRING_FLAGS],
    booleans: ["quick", "json", "allow-divergence", ...HF_BOOLEAN_FLAGS],
  });
  checkHfFlagsNeedModel(values);
  if (values.model !== undefined && values.init !== undefined) {
    throw new UsageError("--init and --model exclude each other (--adapter DIR starts a model from a saved adapter)");
  }
  outFolderOption(values);
  if (!values.env) throw new UsageError("train needs --env household|shop|qa|recipe");
  if (!values.method) throw new UsageError(`train needs --method (${TEXT_METHODS.join(", ")})`);
  const method = String(values.method);
  if (!(TEXT_METHODS as readonly string[]).includes(method)) {
    throw new UsageError(`--method: unknown method ${JSON.stringify(method)} (methods: ${TEXT_METHODS.join(", ")})`);
  }
  const { file, ...budget } = budgetOptions(values, textBudget(String(values.env), Boolean(values.quick)));
  const options: TextTrainOptions = { ...budget, env: String(values.env), method, seed: intOption(values, "seed", 0, 0), config: file.methods?.[method] };
  checkTextRun(method, options.common, options.config, options.allowDivergence);
  const backend = await initBackend();
  // --init CHECKPOINT: start from a saved policy (e.g. an earlier run's policy.json) instead of SFT.
  if (values.init) options.initial = loadCheckpoint(String(values.init)).policy;
  if (values.model !== undefined) {
    const sft = hfSftOptions(values);
    options.sftLearningRate = sft.sftLearningRate;
    options.sftBatchSize = sft.sftBatchSize;
    options.pretrained = hfPretrained(values, options.seed);
  }
  const log = (s: string) => !values.json && process.stderr.write(s + "\n");
  log(describeBackend(backend));
  const started = Date.now();
  // On a terminal, a progress bar over the SFT warm start (the longest phase); cycles print a line each.
  const bar =
    !values.json && process.stderr.isTTY
      ? new SingleBar(
          { format: "SFT {bar} {value}/{total} steps | loss {loss} | ETA {eta_formatted}", stream: process.stderr, hideCursor: true },
          Presets.shades_classic,
        )
      : null;
  bar?.start(options.sftSteps, 0, { loss: "" });
  const result = await trainText(
    options,
    (r) => {
      bar?.stop();
      log(
        `cycle ${r.cycle}: success ${(100 * r.evaluation.successRate).toFixed(1)}%, reward ${r.evaluation.meanReward.toFixed(3)}, invalid ${(100 * r.evaluation.invalidRate).toFixed(1)}%${r.cycle ? `, ${r.pairs} pairs, match ${(100 * (r.matchRate ?? 0)).toFixed(1)}%` : ""} (${r.seconds.toFixed(1)} s)`,
      );
    },
    (step, _total, loss) => bar?.update(step, { loss: loss.toFixed(3) }),
  );
  bar?.stop();
  const summary = {
    env: result.env,
    method: result.method,
    seed: result.seed,
    ...(values.model !== undefined ? { model: path.resolve(String(values.model)) } : {}),
    ...backendJson(backend),
    seconds: (Date.now() - started) / 1000,
    budget: {
      trainTasks: options.trainTasks,
      testTasks: options.testTasks,
      sftSteps: options.sftSteps,
      cycles: options.cycles,
      samplesPerStep: options.samplesPerStep,
      common: options.common,
    },
    config: result.config,
    theoryContraction: result.theoryContraction,
    cycles: result.cycles,
    final: result.cycles[result.cycles.length - 1].evaluation,
  };
  try {
    if (values.out) {
      const written = ["metrics.json"];
      await writeFolderAtomic(values.out as string, async (dir) => {
        writeFileAtomic(path.join(dir, "metrics.json"), JSON.stringify(summary, null, 2) + "\n");
        const policy = result.policy;
        if (policy instanceof HfPolicy) written.push(...(await saveHfPolicy(dir, policy, Boolean(values.merge))));
        else if (policy instanceof TransformerPolicy) {
          await saveCheckpoint(path.join(dir, "policy.json"), policy, undefined, { env: result.env, method: result.method, seed: result.seed });
          written.push("policy.json");
        }
      });
      log(`wrote ${path.resolve(values.out as string)}/{${written.join(",")}}`);
    }
  } finally {
    result.policy.dispose();
  }
  if (values.json) process.stdout.write(JSON.stringify(summary) + "\n");
  return 0;
}
