/**
 * `stepagent compare-plan FILE --out DIR [--jobs 2] [--envs a,b] [--methods a,b,…]`
 * Runs a whole comparison plan: every (env, seed) of the plan is one `compare --plan FILE --env E
 * --seeds 1 --first-seed s` child process writing DIR/E-seed-s/, at most `--jobs` at a time. A
 * folder that already holds its compare.json is skipped, so an interrupted plan resumes where it
 * stopped (compare writes its folder atomically: a killed run leaves nothing that looks finished).
 * Then the folders are merged into DIR/table.md and DIR/table.json: paired differences to SFT,
 * Holm-corrected over every method × env × metric (`compare-table`).
 *
 * One process per (env, seed) rather than one per env: the runs are independent, a 2-core machine
 * runs two at once, and a crash or a kill costs one seed's work, not an env's.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseFlags, UsageError, intOption, listOption } from "./options";
import { readComparePlan } from "./compare_plan";
import { compareTables, tablesMarkdown } from "./compare_table";
import { writeFileAtomic } from "../core/atomic";

interface Unit {
  env: string;
  seed: number;
  dir: string;
}

function runUnit(planFile: string, unit: Unit, methods: string[] | undefined): Promise<number> {
  // The same Node flags as this process (e.g. a TypeScript loader when run from source).
  const args = [
    ...process.execArgv,
    process.argv[1],
    "compare",
    "--plan",
    planFile,
    "--env",
    unit.env,
    "--seeds",
    "1",
    "--first-seed",
    String(unit.seed),
    "--out",
    unit.dir,
  ];
  if (methods) args.push("--methods", methods.join(","));
  const log = fs.openSync(`${unit.dir}.log`, "w");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", log, log] });
    child.on("error", (err) => {
      fs.closeSync(log);
      reject(err);
    });
    child.on("close", (code) => {
      fs.closeSync(log);
      resolve(code ?? 1);
    });
  });
}

export async function comparePlanCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { strings: ["out", "jobs", "envs", "methods"], positionals: true });
  if (positionals.length !== 1) throw new UsageError("compare-plan needs one plan file (e.g. configs/compare-full.json)");
  if (values.out === undefined) throw new UsageError("compare-plan needs --out DIR (one folder per env and seed, and the merged table)");
  const planFile = positionals[0];
  const plan = readComparePlan(planFile);
  const out = String(values.out);
  const jobs = intOption(values, "jobs", 2, 1);
  const envs = listOption(values, "envs", Object.keys(plan.envs), Object.keys(plan.envs), "env");
  const methods = values.methods === undefined ? undefined : listOption(values, "methods", plan.methods, plan.methods, "method");
  fs.mkdirSync(out, { recursive: true });
  const all: Unit[] = envs.flatMap((env) =>
    Array.from({ length: plan.seeds }, (_, i) => ({ env, seed: plan.firstSeed + i, dir: path.join(out, `${env}-seed-${plan.firstSeed + i}`) })),
  );
  const todo = all.filter((u) => !fs.existsSync(path.join(u.dir, "compare.json")));
  process.stderr.write(`${all.length} runs in the plan (${envs.join(", ")} × ${plan.seeds} seeds), ${all.length - todo.length} done, ${jobs} at a time\n`);
  const started = Date.now();
  const failed: Unit[] = [];
  let finished = 0;
  const worker = async () => {
    for (let u = todo.shift(); u; u = todo.shift()) {
      const code = await runUnit(planFile, u, methods);
      finished++;
      if (code !== 0) failed.push(u);
      const secs = (Date.now() - started) / 1000;
      process.stderr.write(
        `${u.env} seed ${u.seed}: ${code === 0 ? "done" : `failed (exit ${code}; log ${u.dir}.log)`} — ${finished} finished, ` +
          `${todo.length} waiting, ${secs.toFixed(0)} s so far\n`,
      );
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  if (failed.length) {
    process.stderr.write(`${failed.length} run(s) failed: ${failed.map((u) => `${u.env} seed ${u.seed}`).join(", ")}; rerun the same command to retry them\n`);
    return 1;
  }
  const tables = compareTables(
    all.map((u) => u.dir),
    plan.alpha,
  );
  writeFileAtomic(
    path.join(out, "table.json"),
    JSON.stringify({ plan: planFile, alpha: plan.alpha, inputs: all.map((u) => u.dir), ...tables }, null, 2) + "\n",
  );
  writeFileAtomic(path.join(out, "table.md"), tablesMarkdown(tables));
  process.stderr.write(`wrote ${path.join(out, "table.md")}\n`);
  return 0;
}
