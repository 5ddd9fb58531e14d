#!/usr/bin/env node
/**
 * The `stepagent` command: one subcommand per job (HELP below lists them all with their flags).
 *
 * Errors print one line per problem on stderr and exit non-zero (2: bad usage, 1: failure);
 * nothing is left half-written.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AsyncLocalStorage } from "node:async_hooks";
import { SingleBar, Presets } from "cli-progress";
import { backendJson, describeBackend, initBackend } from "../backend";
import { backendCommand } from "./backend";
import { DataError, InputError } from "../core/errors";
import { intOption, parseConvergenceFlags, parseFlags, stringOption, UsageError, type ConvergenceFlags } from "./options";
import { dataCommand, expertDataCommand } from "./data";
import { trainCommand } from "./train";
import { compareCommand } from "./compare";
import { compareTableCommand } from "./compare_table";
import { comparePlanCommand } from "./compare_plan_run";
import { serveCommand } from "./serve";
import { envServeCommand, envCollectCommand } from "./env_serve";
import { parseJson } from "../core/json";
import { commandHelp, wantsHelp } from "./help";
import { TEXT_METHODS } from "../methods/registry";
import { runStudy, studyRunCount, studyToJson, type StudyOptions, type StudyProgress, type StudyResult } from "../analysis/study";
import { writeFileAtomic, writeFolderAtomic } from "../core/atomic";
import { writeConvergenceReport } from "../report/convergence";
import { checkReportPrerequisites, installKernel, reportNotebook, ReportError } from "../notebook/report";

const HELP = `stepagent — step-wise reinforcement learning of agents (StepAgent)

Usage:
  stepagent convergence [flags]     run StepAgent cycles on a seeded tabular MDP and compare
                                    KL(π_E‖π_k) with the closed form of docs/design.md
  stepagent reproduce [--out DIR] [--seed N] [--json] [--no-notebooks]
                                    the main job: β ∈ {0.6, 0.75, 1, 2, 4}, both reflections,
                                    exact and sampled mode; writes reports/convergence/,
                                    then executes every notebook into reports/
  stepagent report NOTEBOOK… [--out DIR] [--kernel NAME] [--timeout SECONDS]
                                    execute notebooks with the tslab kernel (Jupyter's executor)
                                    and write DIR/<name>.html (self-contained) + DIR/<name>.ipynb
                                    [reports/]
  stepagent data stats FILE [--format F] [--lenient] [--json]
  stepagent data convert FILE --to sharegpt|eto-eval|chat|react --out OUT [--jsonl] [--lenient]
  stepagent data prompts FILE --out OUT.jsonl
                                    one inspection record per expert step, for an LLM to fill
  stepagent data pairs INSPECTION.jsonl --to trl-dpo|trl-stepwise|openrlhf --out OUT.jsonl
  stepagent data inspect EXPERT_FILE --server URL --model NAME --out INSPECTION.jsonl [--samples 4]
        [--temperature 1] [--seed 0] [--api-key-env VAR] [--concurrency 4] [--timeout-ms 60000]
        [--max-retries 3] [--format F] [--lenient]
                                    inspection with an OpenAI-compatible server (vLLM, stepagent
                                    serve, …): n proposals per expert step, the mismatched ones as
                                    rejected turns (then: data pairs); state = stepagent's policy state
  stepagent expert-data --env household|shop|qa|recipe [--split train|test] [--tasks N] [--seed N] --out FILE
                                    the scripted expert's trajectories (ETO conversations)
  stepagent train --env household|shop|qa|recipe --method NAME [--seed N] [--out DIR] [--quick] [--json] [--init CHECKPOINT]
        [budget and method flags below]
                                    train a transformer policy on a text environment with one
                                    method and evaluate it on the held-out split
        [--model HF_DIR] [--lora-rank 8] [--lora-alpha 16] [--lora-dropout 0.05] [--lora-targets a,b]
        [--full-finetune] [--adapter DIR] [--prompt-format chat|react] [--merge]
                                    …or a pretrained Hugging Face model (LoRA; writes a PEFT
                                    adapter; docs/pretrained-models.md)
  stepagent compare --env household|shop|qa|recipe [--seeds 5] [--first-seed 0] [--methods a,b,…] [--quick] [--json] [--out DIR]
        [budget and method flags below]
                                    every method on the same seeds, warm start and budget: success
                                    and KL to the expert with 95% intervals, plots, HTML;
                                    --plan FILE: seeds, methods and budgets from a committed file
        [--model HF_DIR [--lora-rank 8] … as train, without --merge]
                                    …every method on a pretrained Hugging Face model
  stepagent compare-table DIR|FILE… [--alpha 0.05] [--json] [--out FILE]
                                    means, paired differences to SFT (Holm over every method × env
                                    × metric) and the ablations, over several compare results
  stepagent compare-plan FILE --out DIR [--jobs 2] [--envs a,b] [--methods a,b,…]
                                    a whole plan, one process per env and seed (resumes: done
                                    seeds are skipped), then the Holm-corrected table
  stepagent env-serve --env household|shop|qa|recipe [--port 36001] [--host 127.0.0.1] [--split test] [--tasks 50] [--seed N] [--verbose]
                                    serve a built-in env over HTTP with AgentGym's env-server
                                    protocol (create/reset/step/observation); port 0: any free port
  stepagent env-collect --server URL --out FILE [--flavour stepagent|webshop|alfworld|sciworld]
        [--policy expert|random] [--episodes N] [--start I] [--concurrency C] [--timeout-ms T]
                                    run episodes on an env server, write the finished trajectories
                                    (also when the server dies part-way: then exit 1)
  stepagent serve --checkpoint DIR/policy.json | --model HF_DIR [--adapter DIR]
        [--served-model-name NAME] [--host 127.0.0.1] [--port 8000] [--api-key-env VAR] [--seed N] [--quiet]
                                    serve a trained policy or a Hugging Face model (+ LoRA adapter)
                                    through OpenAI-compatible endpoints (/v1/models,
                                    /v1/chat/completions, /v1/completions with echo + logprobs);
                                    --port 0 picks a free port; Ctrl-C stops. With --checkpoint,
                                    --model NAME still sets the served name (deprecated)
  stepagent backend [--json]        the TensorFlow.js backend this machine gets, why the others were
                                    skipped, and the WebGPU adapter (STEPAGENT_BACKEND=name forces one)
  stepagent jupyter-install         register the tslab kernel "stepagent-tslab" with your Jupyter
  stepagent help

convergence flags (defaults in brackets):
  --states S             number of states [20]
  --actions A            number of actions [5]
  --horizon H            episode length [6]
  --beta B[,B…]          β values, each > 0.5 unless --allow-divergence [0.75,1,2,4]
  --cycles K             StepAgent cycles [8]
  --mode M[,M…]          exact | sampled [exact]
  --reflection R[,R…]    implicit | inverse [implicit]
  --seed N               seed of the MDP, the novice and the samples [0]
  --episodes N           sampled mode: expert episodes per inspection [⌈400·S/H⌉]
  --samples-per-step n   sampled mode: agent samples per expert step [8]
  --solver newton64|tfjs reflection solver [newton64 in exact mode, tfjs in sampled mode]
  --adam-steps N         tfjs solver: Adam steps per reflection [400]
  --expert-temperature τ π_E = softmax(z/τ) [1]
  --json                 print exactly one JSON object on stdout, nothing else
  --out DIR              write metrics.json, kl-*.svg/png, actions.svg/png, index.html
  --allow-divergence     run β ≤ 0.5 anyway (the cycle does not converge there)

train and compare flags (defaults: the env's budget; --quick a small one):
  --cycles K  --sft-steps N  --train-tasks N  --test-tasks N
  --samples-per-step n   agent proposals per expert step; every method's action budget is n × expert steps
  --beta B               β of every method that has one [1]; ≤ 0.5 refused unless --allow-divergence
  --nll-weight λ         weight of the NLL anchor, for every method that has one [1; eto 0.1]
  --update-steps N       Adam steps per cycle, the same for every method [40]
  --batch-size B         examples per step, the same for every method [16]
  --config FILE          JSON: {"common": {beta, nllWeight, optimisation}, "methods": {NAME: {…}}, "allowDivergence": bool}
  --allow-divergence     run β ≤ 0.5 anyway
methods: ${TEXT_METHODS.join(", ")}
`;

function studyOptions(f: ConvergenceFlags): StudyOptions {
  return {
    states: f.states,
    actions: f.actions,
    horizon: f.horizon,
    expertTemperature: f["expert-temperature"],
    betas: f.beta,
    reflections: f.reflection,
    modes: f.mode,
    cycles: f.cycles,
    seed: f.seed,
    run: {
      episodes: f.episodes,
      samplesPerStep: f["samples-per-step"],
      solver: f.solver,
      allowDivergence: f["allow-divergence"],
      adam: f["adam-steps"] ? { steps: f["adam-steps"] } : undefined,
    },
  };
}

async function convergence(f: ConvergenceFlags): Promise<void> {
  const options = studyOptions(f);
  const divergent = f.beta.filter((b) => b <= 0.5);
  if (divergent.length && !f["allow-divergence"]) {
    throw new UsageError(
      `--beta ${divergent.join(",")}: β ≤ 0.5 diverges — each cycle multiplies log(π/π_E) by 1 − 1/β, whose size is ≥ 1 there, so the agent never reaches the expert. Use β > 0.5, or pass --allow-divergence to watch it diverge.`,
    );
  }
  if (divergent.length)
    process.stderr.write(`stepagent: warning: β = ${divergent.join(", ")} ≤ 0.5 does not converge (|1 − 1/β| ≥ 1); running anyway (--allow-divergence)\n`);
  if (f.out && fs.existsSync(f.out) && !fs.statSync(f.out).isDirectory()) throw new UsageError(`--out ${f.out}: exists and is not a folder`);
  const backend = await initBackend();
  if (!f.json) process.stderr.write(describeBackend(backend) + "\n");
  const showProgress = !f.json && process.stderr.isTTY === true;
  const totalCycles = studyRunCount(options) * options.cycles;
  const bar = showProgress
    ? new SingleBar(
        { format: "{bar} {percentage}% | {value}/{total} cycles | {label} | KL {kl} | ETA {eta_formatted}", stream: process.stderr, hideCursor: true },
        Presets.shades_classic,
      )
    : null;
  bar?.start(Math.max(1, totalCycles), 0, { label: "", kl: "" });
  let done = 0;
  const onProgress = (p: StudyProgress) => {
    if (p.record.cycle > 0) done++;
    bar?.update(done, { label: p.label, kl: p.record.kl.toExponential(2) });
  };
  const started = Date.now();
  let result: StudyResult;
  try {
    result = await runStudy(options, onProgress);
  } finally {
    bar?.stop();
  }
  const meta = { ...backendJson(backend), seconds: (Date.now() - started) / 1000 };
  if (f.out) await writeFolderAtomic(f.out, (tmp) => writeConvergenceReport(tmp, result, meta).then(() => undefined));
  if (f.json) {
    process.stdout.write(JSON.stringify(studyToJson(result, meta)) + "\n");
    return;
  }
  for (const run of result.runs) {
    const last = run.cycles[run.cycles.length - 1];
    process.stdout.write(
      `${run.reflection.padEnd(8)} ${run.mode.padEnd(7)} β=${String(run.beta).padEnd(5)} KL ${run.cycles[0].kl.toExponential(3)} → ${last.kl.toExponential(3)} (theory ${last.theoryKl.toExponential(3)}) after ${last.cycle} cycles\n`,
    );
  }
  if (f.out) process.stdout.write(`wrote ${path.resolve(f.out)}/index.html\n`);
}

/** Checks that `file` is a Jupyter notebook (nbformat JSON with a list of cells) before Jupyter sees it. */
function checkNotebook(file: string): void {
  if (!fs.existsSync(file)) throw new DataError(file, null, null, "no such notebook");
  if (fs.statSync(file).isDirectory()) throw new DataError(file, null, null, "is a directory, not a notebook");
  let nb: unknown;
  try {
    nb = parseJson(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new DataError(file, null, null, `not a Jupyter notebook: invalid JSON (${(e as Error).message})`);
  }
  const o = nb as { cells?: unknown; nbformat?: unknown };
  if (typeof o !== "object" || o === null || !Array.isArray(o.cells) || !Number.isInteger(o.nbformat)) {
    throw new DataError(file, null, null, `not a Jupyter notebook: expected an object with "nbformat" and a list of "cells"`);
  }
}

/**
 * Runs one notebook; a failure becomes one line naming the notebook, the cell and the error, with
 * the executor's whole output (a Python traceback, the kernel's stderr) in a log file it names.
 */
function runReport(nb: string, out: string | undefined, options: { kernel?: string; timeoutSeconds?: number }) {
  checkNotebook(nb);
  try {
    return reportNotebook(nb, out, options);
  } catch (err) {
    if (!(err instanceof ReportError) || !err.message.includes("\n")) throw err;
    // Beside the system's temporary files, not in the report folder: a failed run writes no report.
    const log = path.join(os.tmpdir(), `stepagent-report-${path.basename(nb, ".ipynb")}.error.log`);
    writeFileAtomic(log, err.message + "\n");
    // The line that names the error ("Error: …", "TypeError: …") says more than the executor's first line.
    const lines = err.message.split("\n");
    const named = lines.find((l) => /^\s*(\w*Error|\w*Exception)(:|$)/.test(l))?.trim();
    const headline = named && !lines[0].includes(named) ? lines[0].replace(/ failed: .*$/, ` failed: ${named}`) : lines[0];
    // The failing cell's source (indented lines after the first), on the same line, shortened.
    const end = lines.findIndex((l, i) => i > 0 && !l.startsWith("    "));
    const source = lines
      .slice(1, end < 0 ? undefined : end)
      .map((l) => l.trim())
      .filter(Boolean)
      .join(" ↵ ");
    const cell = source ? ` (cell: ${source.length > 120 ? source.slice(0, 119) + "…" : source})` : "";
    throw new ReportError(`${headline}${cell} (full output in ${log})`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && wantsHelp(rest)) {
    const help = commandHelp(command, rest);
    if (help !== null) {
      process.stdout.write(help);
      return 0;
    }
  }
  try {
    switch (command) {
      case "convergence":
        await convergence(parseConvergenceFlags(rest));
        return 0;
      case "report": {
        const { values, positionals } = parseFlags(rest, { strings: ["out", "kernel", "timeout"], positionals: true });
        if (positionals.length === 0) throw new UsageError("report needs at least one notebook, e.g. stepagent report notebooks/02-convergence-analysis.ipynb");
        const timeout = values.timeout === undefined ? undefined : intOption(values, "timeout", 0, 1);
        const out = stringOption(values, "out");
        const kernel = stringOption(values, "kernel");
        for (const nb of positionals) {
          const r = runReport(nb, out, { kernel, timeoutSeconds: timeout });
          process.stdout.write(
            `${nb}: executed in ${r.seconds.toFixed(1)} s → ${path.relative(process.cwd(), r.html)}, ${path.relative(process.cwd(), r.ipynb)}\n`,
          );
        }
        return 0;
      }
      case "data":
        return await dataCommand(rest);
      case "train":
        return await trainCommand(rest);
      case "compare":
        return await compareCommand(rest);
      case "compare-table":
        return await compareTableCommand(rest);
      case "compare-plan":
        return await comparePlanCommand(rest);
      case "expert-data":
        return await expertDataCommand(rest);
      case "env-serve":
        return await envServeCommand(rest);
      case "env-collect":
        return await envCollectCommand(rest);
      case "serve":
        return await serveCommand(rest);
      case "backend":
        return await backendCommand(rest);
      case "jupyter-install":
        process.stdout.write(installKernel() + "\n");
        return 0;
      case "reproduce": {
        const flags = parseConvergenceFlags(rest, {
          states: "30",
          actions: "6",
          horizon: "8",
          beta: "0.6,0.75,1,2,4",
          cycles: "10",
          mode: "exact,sampled",
          reflection: "implicit,inverse",
          seed: "0",
          "samples-per-step": "8",
          "expert-temperature": "1",
          out: "reports/convergence",
        });
        await convergence(flags);
        if (!flags.json && !rest.includes("--no-notebooks")) {
          try {
            checkReportPrerequisites();
          } catch (err) {
            // The main job (the convergence report) is done; notebook reports need Jupyter's executor.
            process.stderr.write(`stepagent: warning: notebook reports skipped — ${(err as Error).message}\n`);
            return 0;
          }
          const dir = path.resolve(__dirname, "../../notebooks");
          for (const nb of fs
            .readdirSync(dir)
            .filter((f) => f.endsWith(".ipynb"))
            .sort()) {
            const r = reportNotebook(path.join(dir, nb), path.resolve(flags.out ? path.dirname(flags.out) : "reports"));
            process.stdout.write(`notebooks/${nb}: executed in ${r.seconds.toFixed(1)} s → ${path.relative(process.cwd(), r.html)}\n`);
          }
        }
        return 0;
      }
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(HELP);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(
          `unknown command ${JSON.stringify(command)} (commands: convergence, reproduce, report, data, expert-data, train, compare, compare-table, compare-plan, env-serve, env-collect, serve, backend, jupyter-install, help)`,
        );
    }
  } catch (err) {
    if (err instanceof ReportError || err instanceof DataError) {
      process.stderr.write(`stepagent: error: ${err.message}\n`);
      return 1;
    }
    if (err instanceof RangeError && /Invalid (typed )?array length|Array buffer allocation failed/.test(err.message)) {
      process.stderr.write(`stepagent: error: out of memory for the requested sizes (${err.message}); use smaller flag values\n`);
      return 1;
    }
    if (err instanceof UsageError || err instanceof InputError) {
      process.stderr.write(`stepagent: error: ${err.message}\n`);
      if (err instanceof UsageError) process.stderr.write(`(run "stepagent help" for usage)\n`);
      return 2;
    }
    process.stderr.write(`stepagent: error: ${(err as Error).message ?? String(err)}\n`);
    if (process.env.STEPAGENT_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}

/** Where the output of the `runCaptured` call this code runs inside of goes (none: printed). */
const captureSink = new AsyncLocalStorage<{ out: string[]; err: string[] }>();
let captured = 0;
let realWrites: { out: typeof process.stdout.write; err: typeof process.stderr.write } | null = null;

/**
 * `main` with its output captured instead of printed: the exit code, stdout and stderr, for
 * running the command in-process (tests run hundreds of bad inputs this way, without a process
 * each). Only writes made from inside this call are captured; other output passes through.
 */
export async function runCaptured(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  if (captured++ === 0) {
    const real = { out: process.stdout.write, err: process.stderr.write };
    realWrites = real;
    const route = (which: "out" | "err", stream: NodeJS.WriteStream) =>
      ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        const sink = captureSink.getStore();
        if (!sink) return (real[which] as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
        sink[which].push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
        const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
        cb?.();
        return true;
      }) as typeof process.stdout.write;
    process.stdout.write = route("out", process.stdout);
    process.stderr.write = route("err", process.stderr);
  }
  const sink = { out: [] as string[], err: [] as string[] };
  try {
    const code = await captureSink.run(sink, () => main(argv));
    return { code, stdout: sink.out.join(""), stderr: sink.err.join("") };
  } finally {
    if (--captured === 0 && realWrites) {
      process.stdout.write = realWrites.out;
      process.stderr.write = realWrites.err;
      realWrites = null;
    }
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
