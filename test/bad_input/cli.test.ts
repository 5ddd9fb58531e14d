/**
 * The bad-input suite, command line (in-process through `runCaptured`, the CLI's own entry with
 * its output captured): `--help` on every command and subcommand; every integer flag of every
 * command given huge, negative, fractional, non-numeric and empty values; empty list flags; bad
 * files. Each case asserts the exit code, the one-line message naming the flag or file, and that
 * nothing was written.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCaptured } from "../../src/cli/main";
import { HELP_COMMANDS, HELP_DATA_SUBCOMMANDS } from "../../src/cli/help";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-bad-cli-"));
const out = path.join(dir, "never");
const good = path.join(dir, "good.json");
fs.writeFileSync(
  good,
  JSON.stringify([
    {
      id: "a",
      conversations: [
        { from: "human", value: "Observation: o" },
        { from: "gpt", value: "Action: go to desk 1" },
      ],
    },
  ]),
);
const nothingWritten = () =>
  assert.deepEqual(
    fs.readdirSync(dir).sort(),
    ["good.json", ...fs.readdirSync(dir).filter((f) => f !== "good.json" && f !== "never" && !f.includes(".tmp-"))].sort(),
  );

for (const command of HELP_COMMANDS) {
  test(`--help: stepagent ${command} --help prints its usage and exits 0`, async () => {
    const r = await runCaptured([command, "--help"]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, new RegExp(`^stepagent ${command}\\b`));
  });
  test(`--help: -h wins over a bad flag (stepagent ${command} --bogus -h)`, async () => {
    const r = await runCaptured([command, "--bogus", "-h"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^stepagent ${command}\\b`));
  });
}
for (const sub of HELP_DATA_SUBCOMMANDS) {
  test(`--help: stepagent data ${sub} --help`, async () => {
    const r = await runCaptured(["data", sub, "--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^stepagent data ${sub} `));
  });
}

/** [command prefix, flag, min, max] for every integer flag. */
const INT_FLAGS: [string[], string, number, number][] = [
  ...(
    [
      ["states", 1, 100_000],
      ["actions", 1, 1_000],
      ["horizon", 1, 10_000],
      ["cycles", 0, 100_000],
      ["seed", 0, Number.MAX_SAFE_INTEGER],
      ["episodes", 1, 10_000_000],
      ["samples-per-step", 1, 100_000],
      ["adam-steps", 1, 10_000_000],
    ] as const
  ).map(([f, min, max]): [string[], string, number, number] => [["convergence", "--out", out], f, min, max]),
  ...(
    [
      ["samples", 1, 1_000],
      ["seed", 0, Number.MAX_SAFE_INTEGER],
      ["concurrency", 1, 1_024],
      ["timeout-ms", 1, 86_400_000],
      ["max-retries", 0, 100],
    ] as const
  ).map(([f, min, max]): [string[], string, number, number] => [
    ["data", "inspect", good, "--server", "http://127.0.0.1:9", "--model", "m", "--out", out],
    f,
    min,
    max,
  ]),
  [["expert-data", "--env", "qa", "--out", out], "tasks", 1, 1_000_000],
  [["expert-data", "--env", "qa", "--out", out], "seed", 0, Number.MAX_SAFE_INTEGER],
  ...(
    [
      ["seed", 0, Number.MAX_SAFE_INTEGER],
      ["cycles", 0, 100_000],
      ["sft-steps", 1, 10_000_000],
      ["train-tasks", 1, 1_000_000],
      ["test-tasks", 1, 1_000_000],
      ["samples-per-step", 1, 100_000],
      ["update-steps", 0, 10_000_000],
      ["batch-size", 1, 100_000],
    ] as const
  ).flatMap(([f, min, max]): [string[], string, number, number][] => [
    [["train", "--env", "qa", "--method", "sft", "--out", out], f, min, max],
    ...(f === "seed" ? [] : [[["compare", "--env", "qa", "--out", out], f, min, max] as [string[], string, number, number]]),
  ]),
  [["compare", "--env", "qa", "--out", out], "seeds", 1, 10_000],
  [["compare", "--env", "qa", "--out", out], "first-seed", 0, Number.MAX_SAFE_INTEGER],
  ...(
    [
      ["port", 0, 65_535],
      ["seed", 0, Number.MAX_SAFE_INTEGER],
      ["tasks", 1, 1_000_000],
      ["max-envs", 1, 1_000_000],
    ] as const
  ).map(([f, min, max]): [string[], string, number, number] => [["env-serve", "--env", "qa"], f, min, max]),
  ...(
    [
      ["timeout-ms", 1, 86_400_000],
      ["retries", 0, 100],
      ["concurrency", 1, 1_024],
      ["start", 0, 1_000_000],
      ["max-steps", 1, 100_000],
    ] as const
  ).map(([f, min, max]): [string[], string, number, number] => [["env-collect", "--server", "http://127.0.0.1:9", "--out", out], f, min, max]),
  [["serve", "--checkpoint", good], "port", 0, 65_535],
  [["serve", "--checkpoint", good], "seed", 0, Number.MAX_SAFE_INTEGER],
  [["report", good], "timeout", 1, 86_400],
];

const convergence = (prefix: string[]) => prefix[0] === "convergence";
for (const [prefix, flag, min, max] of INT_FLAGS) {
  const huge = max >= Number.MAX_SAFE_INTEGER ? "99999999999999999999" : "99999999999";
  const cases: [string, string][] = [
    [huge, convergence(prefix) ? `--${flag} must be ≤ ${max} (got "${huge}")` : `--${flag} must be ≤ ${max}, got ${huge}`],
    [String(min - 1), convergence(prefix) ? `--${flag} must be ≥ ${min} (got "${min - 1}")` : `--${flag} must be an integer ≥ ${min}, got "${min - 1}"`],
    ["1.5", convergence(prefix) ? `--${flag} must be an integer (got "1.5")` : `--${flag} must be an integer ≥ ${min}, got "1.5"`],
    ["1e3", convergence(prefix) ? `--${flag} must be an integer (got "1e3")` : `--${flag} must be an integer ≥ ${min}, got "1e3"`],
    ["", convergence(prefix) ? `--${flag} must be an integer (got "")` : `--${flag} must be an integer ≥ ${min}, got ""`],
  ];
  for (const [value, message] of cases) {
    test(`flags: ${prefix.slice(0, prefix[0] === "data" ? 2 : 1).join(" ")} --${flag}=${value.length > 12 ? value.slice(0, 12) + "…" : value} is refused by name`, async () => {
      const r = await runCaptured([...prefix, `--${flag}=${value}`]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, `stepagent: error: ${message}\n(run "stepagent help" for usage)\n`);
      assert.equal(r.stdout, "");
      assert.equal(fs.existsSync(out), false);
    });
  }
}

const usage: [string, string[], string][] = [
  ["compare --methods= (empty)", ["compare", "--env", "qa", "--methods=", "--out", out], "--methods is empty; give one or more of"],
  ["compare --methods with an empty item", ["compare", "--env", "qa", "--methods=sft,,rft", "--out", out], `--methods has an empty item in "sft,,rft"`],
  ["compare --methods unknown", ["compare", "--env", "qa", "--methods=alchemy", "--out", out], `--methods: unknown method "alchemy"`],
  ["train --method unknown", ["train", "--env", "qa", "--method", "alchemy", "--out", out], `--method: unknown method "alchemy" (methods: sft, `],
  ["train --beta=0", ["train", "--env", "qa", "--method", "sft", "--beta=0", "--out", out], `--beta must be a number > 0, got "0"`],
  ["train --beta= (empty)", ["train", "--env", "qa", "--method", "sft", "--beta=", "--out", out], `--beta must be a number > 0, got ""`],
  ["train --beta=1e999", ["train", "--env", "qa", "--method", "sft", "--beta=1e999", "--out", out], `--beta must be a number > 0, got "1e999"`],
  ["compare --beta=abc", ["compare", "--env", "qa", "--beta=abc", "--out", out], `--beta must be a number > 0, got "abc"`],
  ["train --nll-weight=-1", ["train", "--env", "qa", "--method", "sft", "--nll-weight=-1", "--out", out], `--nll-weight must be a number ≥ 0, got "-1"`],
  ["compare --nll-weight=NaN", ["compare", "--env", "qa", "--nll-weight=NaN", "--out", out], `--nll-weight must be a number ≥ 0, got "NaN"`],
  ["train --config= (empty)", ["train", "--env", "qa", "--method", "sft", "--config=", "--out", out], "--config is empty"],
  ["compare --methods with an unknown second", ["compare", "--env", "qa", "--methods=ppo-outcome,bogus", "--out", out], `--methods: unknown method "bogus"`],
  ["convergence --mode= (empty)", ["convergence", "--mode="], `--mode must be one of exact, sampled (or a comma-separated list) (got "")`],
  ["convergence --reflection= (empty)", ["convergence", "--reflection="], `--reflection must be one of implicit, inverse (or a comma-separated list) (got "")`],
  ["convergence --beta= (empty)", ["convergence", "--beta="], `--beta must be a comma-separated list of numbers (got "")`],
  ["convergence --beta=1,,2", ["convergence", "--beta=1,,2"], `--beta must be a comma-separated list of numbers (got "1,,2")`],
  ["convergence --beta=1e999", ["convergence", "--beta=1e999"], `--beta must be a comma-separated list of numbers (got "1e999")`],
  ["convergence --expert-temperature=0", ["convergence", "--expert-temperature=0"], `--expert-temperature must be a number > 0 (got "0")`],
  [
    "convergence too many cells",
    ["convergence", "--states=100000", "--actions=1000", "--horizon=10000"],
    "--states × --actions × --horizon must be ≤ 50000000",
  ],
  ["data convert --to react --jsonl", ["data", "convert", good, "--to", "react", "--jsonl", "--out", out], "--jsonl: ReAct text has no JSONL form"],
  ["data convert --out= (empty)", ["data", "convert", good, "--to", "chat", "--out="], "--out is empty"],
  ["data convert --to yaml", ["data", "convert", good, "--to", "yaml", "--out", out], `--to must be one of sharegpt, eto-eval, chat, react, got "yaml"`],
  ["data convert without --to", ["data", "convert", good, "--out", out], "data convert needs --to"],
  ["data convert two files", ["data", "convert", good, good, "--to", "chat", "--out", out], "data convert needs exactly one FILE, got 2"],
  ["data stats --format=", ["data", "stats", good, "--format="], `--format must be one of sharegpt, eto-eval, chat, react, got ""`],
  ["data pairs --to bogus", ["data", "pairs", good, "--to", "bogus", "--out", out], `data pairs needs --to trl-dpo|trl-stepwise|openrlhf, got "bogus"`],
  [
    "data inspect --temperature=-1",
    ["data", "inspect", good, "--server", "http://127.0.0.1:9", "--model", "m", "--out", out, "--temperature=-1"],
    `--temperature must be a number ≥ 0 and ≤ 100, got "-1"`,
  ],
  [
    "data inspect --temperature=1e400",
    ["data", "inspect", good, "--server", "http://127.0.0.1:9", "--model", "m", "--out", out, "--temperature=1e400"],
    `--temperature must be a number ≥ 0 and ≤ 100, got "1e400"`,
  ],
  ["data bogus", ["data", "bogus"], `unknown data command "bogus"`],
  ["an unknown flag", ["data", "stats", good, "--frobnicate"], "unknown flag '--frobnicate'"],
  ["report --timeout=0", ["report", good, "--timeout=0"], `--timeout must be an integer ≥ 1, got "0"`],
  ["report without notebooks", ["report"], "report needs at least one notebook"],
  ["env-serve --split dev", ["env-serve", "--env", "qa", "--split", "dev"], `--split must be train or test, got "dev"`],
  [
    "env-collect --format react",
    ["env-collect", "--server", "http://127.0.0.1:9", "--out", out, "--format", "react"],
    `--format must be sharegpt, eto-eval or chat, got "react"`,
  ],
  ["train --out a file", ["train", "--env", "qa", "--method", "sft", "--quick", "--out", good], `--out ${good}: exists and is not a folder`],
  ["compare --out a file", ["compare", "--env", "qa", "--quick", "--out", good], `--out ${good}: exists and is not a folder`],
  ["env-collect --server not a URL", ["env-collect", "--server", "nope", "--out", out], `--server: server URL "nope" is not a URL`],
];
for (const [name, argv, message] of usage) {
  test(`usage: ${name}`, async () => {
    const r = await runCaptured(argv);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.startsWith(`stepagent: error: ${message}`), r.stderr);
    assert.equal(r.stderr.split("\n").filter(Boolean).length, 2, "one line, then the hint");
    assert.equal(fs.existsSync(out), false);
  });
}

/** `--config FILE` and method settings (train and compare): refused by file and field before any work, one line, exit 2. */
const writeConfig = (name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};
const notJson = writeConfig("config-not-json.json", "{ beta: 1 }");
const unknownField = writeConfig("config-unknown-field.json", JSON.stringify({ common: { beta: 1, gamma: 2 } }));
const unknownMethod = writeConfig("config-unknown-method.json", JSON.stringify({ methods: { alchemy: {} } }));
const wrongType = writeConfig("config-wrong-type.json", JSON.stringify({ common: { beta: "one" } }));
const badScale = writeConfig("config-bad-scale.json", JSON.stringify({ methods: { "stepagent-inverse": { advantageScale: "nats" } } }));
const oneFold = writeConfig("config-one-fold.json", JSON.stringify({ methods: { "ppo-outcome": { value: { folds: 1 } } } }));
const trainSft = ["train", "--env", "qa", "--method", "sft"];
const compareQa = ["compare", "--env", "qa"];
const configs: [string, string[], string][] = [
  ["train --config missing", [...trainSft, "--config", path.join(dir, "nope.json"), "--out", out], `--config ${path.join(dir, "nope.json")}: no such file`],
  ["train --config a folder", [...trainSft, "--config", dir, "--out", out], `--config ${dir}: is a folder, not a file`],
  ["compare --config not JSON", [...compareQa, "--config", notJson, "--out", out], `--config ${notJson}: not valid JSON (`],
  [
    "train --config unknown field",
    [...trainSft, "--config", unknownField, "--out", out],
    `--config ${unknownField}: common: Unrecognized key(s) in object: 'gamma'`,
  ],
  ["train --config unknown method", [...trainSft, "--config", unknownMethod, "--out", out], `--config ${unknownMethod}: methods: unknown method "alchemy"`],
  ["compare --config wrong type", [...compareQa, "--config", wrongType, "--out", out], `--config ${wrongType}: common.beta: Expected number, received string`],
  [
    "train --config advantageScale not an option",
    ["train", "--env", "qa", "--method", "stepagent-inverse", "--config", badScale, "--out", out],
    "stepagent-inverse.advantageScale: Invalid enum value. Expected 'reward' | 'rms-beta', received 'nats'",
  ],
  [
    "train --config one cross-fitting fold",
    ["train", "--env", "qa", "--method", "ppo-outcome", "--config", oneFold, "--out", out],
    "ppo-outcome.value.folds: Number must be greater than or equal to 2",
  ],
  [
    "train --beta=0.3 (divergent)",
    ["train", "--env", "qa", "--method", "stepagent-implicit", "--beta=0.3", "--out", out],
    "stepagent-implicit.beta: β = 0.3 ≤ 0.5 diverges",
  ],
];
for (const [name, argv, message] of configs) {
  test(`config: ${name}`, async () => {
    const r = await runCaptured(argv);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.startsWith(`stepagent: error: ${message}`), r.stderr);
    assert.equal(r.stderr.split("\n").filter(Boolean).length, 1, r.stderr);
    assert.equal(r.stdout, "");
    assert.equal(fs.existsSync(out), false);
  });
}

const outputs: [string, string[], string][] = [
  ["data convert --out a folder", ["data", "convert", good, "--to", "chat", "--out", dir], `${dir}: is a folder; name a file to write`],
  [
    "data convert --out in a missing folder",
    ["data", "convert", good, "--to", "chat", "--out", path.join(dir, "no", "x.json")],
    `${path.join(dir, "no", "x.json")}: its folder ${path.join(dir, "no")} does not exist`,
  ],
  ["expert-data --out a folder", ["expert-data", "--env", "qa", "--tasks", "2", "--out", dir], `${dir}: is a folder; name a file to write`],
  ["data prompts --out a folder", ["data", "prompts", good, "--out", dir], `${dir}: is a folder; name a file to write`],
];
for (const [name, argv, message] of outputs) {
  test(`outputs: ${name}`, async () => {
    const r = await runCaptured(argv);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `stepagent: error: ${message}\n`);
    nothingWritten();
  });
}

const notNotebook = path.join(dir, "notes.ipynb");
fs.writeFileSync(notNotebook, JSON.stringify({ hello: "world" }));
const garbage = path.join(dir, "garbage.ipynb");
fs.writeFileSync(garbage, "this is not json");
const files: [string, string[], string][] = [
  ["data stats on a folder", ["data", "stats", dir], `${dir}: is a directory, not a file (name a file inside it)`],
  ["data stats on a missing file", ["data", "stats", path.join(dir, "nope.json")], `${path.join(dir, "nope.json")}: no such file`],
  ["data convert from a folder", ["data", "convert", dir, "--to", "chat", "--out", out], `${dir}: is a directory, not a file (name a file inside it)`],
  ["data prompts from a folder", ["data", "prompts", dir, "--out", out], `${dir}: is a directory, not a file (name a file inside it)`],
  ["data pairs from a folder", ["data", "pairs", dir, "--to", "trl-dpo", "--out", out], `${dir}: is a directory, not a file (name a file inside it)`],
  [
    "data pairs from a missing file",
    ["data", "pairs", path.join(dir, "nope.jsonl"), "--to", "trl-dpo", "--out", out],
    `${path.join(dir, "nope.jsonl")}: no such file`,
  ],
  [
    "data inspect from a folder",
    ["data", "inspect", dir, "--server", "http://127.0.0.1:9", "--model", "m", "--out", out],
    `${dir}: is a directory, not a file (name a file inside it)`,
  ],
  [
    "report on a JSON file that is not a notebook",
    ["report", notNotebook],
    `${notNotebook}: not a Jupyter notebook: expected an object with "nbformat" and a list of "cells"`,
  ],
  ["report on a file that is not JSON", ["report", garbage], `${garbage}: not a Jupyter notebook: invalid JSON (`],
  ["report on a folder", ["report", dir], `${dir}: is a directory, not a notebook`],
  ["serve on a folder without policy.json", ["serve", "--checkpoint", dir], `${path.join(dir, "policy.json")}: no such checkpoint`],
  [
    "train --init on a missing checkpoint",
    ["train", "--env", "qa", "--method", "sft", "--init", path.join(dir, "nope.json"), "--out", out],
    `${path.join(dir, "nope.json")}: no such checkpoint`,
  ],
];
for (const [name, argv, message] of files) {
  test(`files: ${name}`, async () => {
    const r = await runCaptured(argv);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.split("\n").filter((l) => l && !l.startsWith("TensorFlow.js backend"));
    assert.equal(lines.length, 1, r.stderr);
    assert.ok(lines[0].startsWith(`stepagent: error: ${message}`), lines[0]);
    assert.equal(fs.existsSync(out), false);
    nothingWritten();
  });
}
