/**
 * `--help` for every command and `data` subcommand: `stepagent COMMAND [SUB] --help` prints the
 * command's usage and exits 0 before any other flag is checked.
 */
import { TEXT_METHODS } from "../methods/registry";

/** The budget and method flags `train` and `compare` share (BUDGET_FLAGS). */
const BUDGET_HELP = `[--cycles K] [--sft-steps N] [--train-tasks N] [--test-tasks N] [--samples-per-step n] [--beta B] [--nll-weight λ]
        [--update-steps N] [--batch-size B] [--config FILE] [--allow-divergence]`;

const COMMANDS: Record<string, string> = {
  convergence: `stepagent convergence [flags]
  StepAgent cycles on a seeded tabular MDP, KL(π_E‖π_k) against the closed form.
  Flags: --states S --actions A --horizon H --beta B[,B…] --cycles K --mode exact|sampled[,…]
         --reflection implicit|inverse[,…] --seed N --episodes N --samples-per-step n
         --solver newton64|tfjs --adam-steps N --expert-temperature τ --json --out DIR --allow-divergence
  Run "stepagent help" for the defaults.`,
  reproduce: `stepagent reproduce [--out DIR] [--seed N] [--json] [--no-notebooks]
  The convergence study behind the README's plot (both reflections, exact and sampled mode),
  then every notebook executed into reports/. Takes the convergence flags too.`,
  report: `stepagent report NOTEBOOK… [--out DIR] [--kernel NAME] [--timeout SECONDS]
  Executes notebooks with the tslab kernel and writes DIR/<name>.html and DIR/<name>.ipynb [reports/].
  When execution fails, one line names the notebook, cell and error; the executor's full output goes to
  a log file in the system's temporary folder, named in that line.`,
  data: `stepagent data stats|convert|prompts|pairs|inspect … (stepagent data SUBCOMMAND --help for each)
  Trajectory files: ETO/ShareGPT, ETO eval outputs, role/content chat (JSON or JSONL), ReAct text,
  JSON objects of name → ReAct transcript. FILE may be "-" for standard input.`,
  "expert-data": `stepagent expert-data --env household|shop|qa|recipe [--split train|test] [--tasks N] [--seed N] --out FILE [--jsonl]
  The scripted expert's trajectories on generated tasks, as ETO (ShareGPT) conversations.`,
  train: `stepagent train --env household|shop|qa|recipe --method METHOD [--seed N] [--out DIR] [--quick] [--json] [--init CHECKPOINT]
        ${BUDGET_HELP}
        [--model HF_DIR [--lora-rank 8] [--lora-alpha 16] [--lora-dropout 0.05] [--lora-targets a,b] [--full-finetune]
         [--adapter DIR] [--prompt-format chat|react] [--max-context N] [--max-action-tokens N] [--merge]]
  Trains a transformer policy (or, with --model, a pretrained Hugging Face model with LoRA) on a text
  environment and evaluates it on the held-out split; --out DIR gets metrics.json and policy.json
  (both or neither; with --model: adapter/ in PEFT's format, and merged/ with --merge).
  Methods: ${TEXT_METHODS.join(", ")}.`,
  compare: `stepagent compare --env household|shop|qa|recipe [--seeds 5] [--first-seed 0] [--methods a,b,…] [--quick] [--json] [--out DIR]
        ${BUDGET_HELP}
        [--plan FILE]
        [--model HF_DIR [--lora-rank 8] [--lora-alpha 16] [--lora-dropout 0.05] [--lora-targets a,b] [--full-finetune]
         [--adapter DIR] [--prompt-format chat|react] [--max-context N] [--max-action-tokens N]]
  Every method on the same seeds and budget: success and KL with 95% intervals, plots, HTML.
  --plan FILE takes seeds, methods and budgets from a committed file (configs/compare-full.json).
  --model runs every method on a pretrained Hugging Face model (LoRA or full fine-tuning) from one SFT warm start per seed.
  Methods: ${TEXT_METHODS.join(", ")}.`,
  "compare-table": `stepagent compare-table DIR|FILE… [--alpha 0.05] [--json] [--out FILE]
  Over several compare results — compare.json files, their folders, or a folder of them (compare-plan's --out) —
  merging seeds split over folders: each method's means (held-out KL per cycle beside the
  theory), paired differences to SFT Holm-corrected over every method × env × metric, and the ablations (StepAgent
  without its step signal, without its anchor, and against SFT continued on its budget), a Holm family of their own.`,
  "compare-plan": `stepagent compare-plan FILE --out DIR [--jobs 2] [--envs a,b] [--methods a,b,…]
  Every env and seed of a plan (configs/compare-full.json), each a compare child process writing DIR/ENV-seed-S/
  (its log beside it), --jobs at a time; seeds already done are skipped, so rerunning resumes. Then DIR/table.md
  and DIR/table.json: compare-table over every folder of the plan.`,
  "env-serve": `stepagent env-serve --env household|shop|qa|recipe [--port 36001] [--host 127.0.0.1] [--split test] [--tasks 50] [--seed N]
        [--max-envs 4096] [--verbose]
  Serves a built-in env over HTTP with AgentGym's env-server protocol; --port 0 picks a free port.`,
  "env-collect": `stepagent env-collect --server URL --out FILE [--flavour stepagent|webshop|alfworld|sciworld] [--policy expert|random]
        [--episodes N] [--start I] [--concurrency C] [--max-steps N] [--seed N] [--timeout-ms T] [--retries R]
        [--format sharegpt|eto-eval|chat] [--jsonl]
  Runs episodes on an env server and writes the finished trajectories (also when the server dies part-way: then exit 1).`,
  serve: `stepagent serve --checkpoint DIR/policy.json | --model HF_DIR [--adapter DIR] [--served-model-name NAME] [--host 127.0.0.1]
        [--port 8000] [--api-key-env VAR] [--seed N] [--quiet]
  Serves a trained policy, or a Hugging Face model folder (+ a PEFT LoRA adapter), through OpenAI-compatible endpoints
  (/v1/models, /v1/chat/completions, /v1/completions). With --checkpoint, --model NAME still sets the served name (deprecated).
  The checkpoint is validated first; an invalid one stops the server from starting.`,
  backend: `stepagent backend [--json]
  The TensorFlow.js backend this machine gets, why each other one was skipped, and the WebGPU adapter
  (STEPAGENT_BACKEND=name forces one).`,
  "jupyter-install": `stepagent jupyter-install
  Registers the tslab kernel "stepagent-tslab" with your Jupyter.`,
};

const DATA: Record<string, string> = {
  stats: `stepagent data stats FILE [--format F] [--lenient] [--json]
  What a trajectory file holds: format, encoding, trajectories, steps, action verbs, reward, success.
  --lenient skips malformed records and replaces invalid bytes with U+FFFD, counting both.`,
  convert: `stepagent data convert FILE --to sharegpt|eto-eval|chat|react --out OUT [--jsonl] [--format F] [--lenient]
  Converts exactly: every trajectory written reads back as itself. One that the target cannot hold
  (ReAct text has no roles, so a multi-turn preamble) is an error; --lenient writes it with the
  preamble joined into one block and counts it. --jsonl is for the JSON formats only.`,
  prompts: `stepagent data prompts FILE --out OUT.jsonl [--format F] [--lenient]
  One inspection record per expert step (rejected: []), for an LLM to fill.`,
  pairs: `stepagent data pairs INSPECTION.jsonl --to trl-dpo|trl-stepwise|openrlhf --out OUT.jsonl [--lenient]
  Preference rows from inspection records: the proposals whose action is not the expert's.`,
  inspect: `stepagent data inspect EXPERT_FILE --server URL --model NAME --out INSPECTION.jsonl [--samples 4] [--temperature 1]
        [--seed 0] [--api-key-env VAR] [--concurrency 4] [--timeout-ms 60000] [--max-retries 3] [--format F] [--lenient]
  A served policy's proposals at every expert step (an OpenAI-compatible server: vLLM, stepagent serve, …).`,
};

/** Whether `argv` asks for help (`--help` or `-h` before a `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/** The help of `command` (and of `data`'s subcommand), or null for an unknown command. */
export function commandHelp(command: string, rest: readonly string[]): string | null {
  if (command === "data") {
    const sub = rest.find((a) => !a.startsWith("-"));
    if (sub !== undefined && DATA[sub]) return DATA[sub] + "\n";
    return `${COMMANDS.data}\n\n${Object.values(DATA).join("\n\n")}\n`;
  }
  return COMMANDS[command] !== undefined ? COMMANDS[command] + "\n" : null;
}

export const HELP_COMMANDS = Object.keys(COMMANDS);
export const HELP_DATA_SUBCOMMANDS = Object.keys(DATA);
