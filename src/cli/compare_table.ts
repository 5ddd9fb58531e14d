/**
 * `stepagent compare-table DIR|FILE… [--alpha 0.05] [--json] [--out FILE]`
 * One table over several `compare` results (the files, folders holding compare.json, or folders
 * of such folders, as compare-plan writes): the runs of one env may be split over processes by
 * seed and are merged. Three parts:
 *   - the means of every method over its seeds (success, KL at expert and at agent states,
 *     agreement at agent states, held-out KL per cycle beside the theory's prediction);
 *   - every method paired with SFT seed by seed on each env and metric, the whole family — every
 *     method × env × metric — Holm-corrected at level α, with Bonferroni-simultaneous intervals;
 *   - the ablations (`ABLATIONS`: what the step signal, the anchor and the method add over the
 *     same budget without them), paired the same way, a second Holm family.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { parseFlags, UsageError } from "./options";
import { InputError } from "../core/errors";
import { correctedPairedTests, type CorrectedTest } from "../analysis/multiple";
import { writeFileAtomic } from "../core/atomic";
import { TEXT_METHODS, type MethodName } from "../methods/registry";

const perSeedSchema = z.object({
  seed: z.number().int(),
  success: z.number(),
  kl: z.number(),
  expertKl: z.number().optional(),
  agentKl: z.number().optional(),
  agentAgreement: z.number().optional(),
});
const perCycleSchema = z.object({
  method: z.string(),
  cycles: z.array(z.object({ cycle: z.number().int(), heldOutKl: z.number(), theoryKl: z.number().nullable().optional() })),
});
const compareJsonSchema = z.object({
  env: z.string(),
  budget: z.record(z.unknown()),
  rows: z.array(z.object({ method: z.string(), perSeed: z.array(perSeedSchema) })),
  /** Means over the file's seeds, cycle by cycle (absent in older files). */
  perCycle: z.array(perCycleSchema).optional(),
});
type PerSeed = z.infer<typeof perSeedSchema>;

/** One file's per-cycle means for a method, over the seeds that method has in the file. */
interface CycleMeans {
  seeds: number[];
  heldOutKl: number[];
  theoryKl: (number | null)[];
}

/** Every run of one env, merged over files. */
interface EnvRuns {
  budget: string;
  files: string[];
  runs: Map<string, Map<number, PerSeed>>;
  cycles: Map<string, CycleMeans[]>;
}

/** The metrics tested against SFT; a result without a metric's field (older files) skips it. */
const METRICS: { name: string; get: (p: PerSeed) => number | undefined }[] = [
  { name: "success", get: (p) => p.success },
  { name: "KL at expert states", get: (p) => p.expertKl ?? p.kl },
  { name: "KL at agent states", get: (p) => p.agentKl },
];

/** JSON with every object's keys sorted: two values written in different key orders compare equal. */
function canonicalJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJson).join(",")}]`;
  if (x !== null && typeof x === "object")
    return `{${Object.keys(x)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((x as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(x);
}

/**
 * The compare.json files an input names: the file itself, a folder's compare.json, or — for a
 * folder without one, such as compare-plan's output — the compare.json of each of its subfolders.
 */
function compareFiles(input: string): string[] {
  if (!fs.existsSync(input) || !fs.statSync(input).isDirectory()) return [input];
  const own = path.join(input, "compare.json");
  if (fs.existsSync(own)) return [own];
  const inside = fs
    .readdirSync(input, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(input, d.name, "compare.json")))
    .map((d) => path.join(input, d.name, "compare.json"))
    .sort();
  if (!inside.length) throw new InputError(input, "no compare.json in this folder or its subfolders");
  return inside;
}

/** Reads compare results and merges the seeds of each env (method → seed → values). */
export function readCompareResults(inputs: string[]): Map<string, EnvRuns> {
  const envs = new Map<string, EnvRuns>();
  for (const file of inputs.flatMap(compareFiles)) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (err) {
      throw new InputError(file, (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `not JSON (${(err as Error).message})`);
    }
    const parsed = compareJsonSchema.safeParse(raw);
    if (!parsed.success) throw new InputError(file, `not a compare.json: ${parsed.error.issues[0].path.join(".")}: ${parsed.error.issues[0].message}`);
    const r = parsed.data;
    const budget = canonicalJson(r.budget);
    const env: EnvRuns = envs.get(r.env) ?? { budget, files: [], runs: new Map(), cycles: new Map() };
    if (env.budget !== budget)
      throw new InputError(file, `${r.env} was run with budget ${budget}, ${env.files[0]} with ${env.budget}; only runs of one budget can be merged`);
    env.files.push(file);
    for (const row of r.rows) {
      if (!row.perSeed.length) continue; // a method with no finished seed carries nothing to merge
      const bySeed = env.runs.get(row.method) ?? new Map<number, PerSeed>();
      for (const p of row.perSeed) {
        // The same seed of a method in two results (say SFT, run with each batch of methods) must
        // agree exactly: same seed, same numbers. Then it counts once.
        const seen = bySeed.get(p.seed);
        if (seen && canonicalJson(seen) !== canonicalJson(p))
          throw new InputError(
            file,
            `${r.env} ${row.method} seed ${p.seed} differs from the same run in another result (${JSON.stringify(seen)} vs ${JSON.stringify(p)})`,
          );
        bySeed.set(p.seed, p);
      }
      env.runs.set(row.method, bySeed);
      const pc = r.perCycle?.find((c) => c.method === row.method);
      if (pc)
        addCycleMeans(
          env,
          file,
          row.method,
          row.perSeed.map((p) => p.seed).sort((a, b) => a - b),
          pc.cycles,
        );
    }
    envs.set(r.env, env);
  }
  return envs;
}

/**
 * Per-cycle means over disjoint seed sets merge as a seed-weighted mean. The same seeds twice (SFT
 * run with each batch of methods) count once and must agree; seeds shared only in part cannot be
 * untangled from means and are refused.
 */
function addCycleMeans(env: EnvRuns, file: string, method: string, seeds: number[], cycles: z.infer<typeof perCycleSchema>["cycles"]): void {
  const list = env.cycles.get(method) ?? [];
  const mine: CycleMeans = { seeds, heldOutKl: cycles.map((c) => c.heldOutKl), theoryKl: cycles.map((c) => c.theoryKl ?? null) };
  for (const other of list) {
    if (!seeds.some((s) => other.seeds.includes(s))) continue;
    if (canonicalJson(other) === canonicalJson(mine)) return;
    throw new InputError(
      file,
      `${method}'s per-cycle results cover seeds ${seeds.join(", ")}, another result's ${other.seeds.join(", ")}: they overlap but differ`,
    );
  }
  list.push(mine);
  env.cycles.set(method, list);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * The ablations every comparison reports when both methods ran: what the step signal adds (its
 * advantages zeroed), what the NLL anchor adds (λ = 0), and each StepAgent reflection against SFT
 * continued on the same budget of gradient steps × batch.
 */
export const ABLATIONS: { method: string; baseline: string; question: string }[] = [
  { method: "stepagent-inverse", baseline: "stepagent-anchor-only", question: "the step signal" },
  { method: "stepagent-inverse", baseline: "stepagent-no-anchor", question: "the NLL anchor" },
  { method: "stepagent-inverse", baseline: "sft-continued", question: "inverse over SFT on its budget" },
  { method: "stepagent-implicit", baseline: "sft-continued", question: "implicit over SFT on its budget" },
];

export interface TableTest extends CorrectedTest {
  env: string;
  method: string;
  metric: string;
  /** Mean of the metric for the method and for SFT over the paired seeds. */
  methodMean: number;
  sftMean: number;
}

export interface AblationTest extends CorrectedTest {
  env: string;
  method: string;
  baseline: string;
  question: string;
  metric: string;
  /** Means of the metric for the method and its baseline over the paired seeds. */
  methodMean: number;
  baselineMean: number;
}

export interface MethodSummary {
  env: string;
  method: string;
  seeds: number;
  /** Means over seeds; null where some seed lacks the metric (older results), never a mean of a subset. */
  success: number;
  expertKl: number;
  agentKl: number | null;
  agentAgreement: number | null;
  /** Held-out KL after each cycle (cycle 0 = the SFT start), mean over seeds, and the theory's prediction (null without one). */
  heldOutKl: number[];
  theoryKl: (number | null)[];
}

export interface CompareTables {
  summary: MethodSummary[];
  tests: TableTest[];
  ablations: AblationTest[];
}

/**
 * Two methods paired seed by seed on each metric both have: the differences (method − baseline)
 * and both means over the paired seeds, one entry per metric.
 */
function pairedMetrics(
  env: string,
  method: string,
  baseline: string,
  a: Map<number, PerSeed>,
  b: Map<number, PerSeed>,
): { label: string; diffs: number[]; metric: string; methodMean: number; baselineMean: number }[] {
  return METRICS.flatMap(({ name, get }) => {
    const pairs = [...a.values()].filter((p) => b.has(p.seed) && get(p) !== undefined && get(b.get(p.seed)!) !== undefined);
    if (!pairs.length) return [];
    const mine = pairs.map((p) => get(p)!);
    const theirs = pairs.map((p) => get(b.get(p.seed)!)!);
    const diffs = mine.map((x, i) => x - theirs[i]);
    return [{ label: `${env}: ${method} − ${baseline}, ${name}`, diffs, metric: name, methodMean: mean(mine), baselineMean: mean(theirs) }];
  });
}

/** A method's place in the registry's order (unknown names after every known one). */
function methodRank(m: string): number {
  const i = TEXT_METHODS.indexOf(m as MethodName);
  return i < 0 ? TEXT_METHODS.length : i;
}

function summarise(env: string, method: string, bySeed: Map<number, PerSeed>, cycles: CycleMeans[] | undefined): MethodSummary {
  const seeds = [...bySeed.values()];
  // A metric some seeds lack (older results) is left out rather than averaged over a subset.
  const avg = (get: (p: PerSeed) => number | undefined) => {
    const xs = seeds.map(get).filter((x): x is number => x !== undefined);
    return xs.length === seeds.length ? mean(xs) : null;
  };
  // Seed-weighted means of the files' per-cycle means, over the cycles every file reached; none
  // when some seeds' files have no per-cycle results (older files), rather than a mean of a subset.
  const covered = (cycles ?? []).reduce((a, c) => a + c.seeds.length, 0) === seeds.length;
  const parts = covered ? (cycles ?? []) : [];
  const depth = parts.length ? Math.min(...parts.map((c) => c.heldOutKl.length)) : 0;
  const total = seeds.length; // = the seeds the parts cover, when there are parts
  const heldOutKl = Array.from({ length: depth }, (_, k) => parts.reduce((a, c) => a + c.seeds.length * c.heldOutKl[k], 0) / total);
  const theoryKl = Array.from({ length: depth }, (_, k) =>
    parts.every((c) => c.theoryKl[k] !== null) ? parts.reduce((a, c) => a + c.seeds.length * c.theoryKl[k]!, 0) / total : null,
  );
  return {
    env,
    method,
    seeds: seeds.length,
    success: avg((p) => p.success)!,
    expertKl: avg((p) => p.expertKl ?? p.kl)!,
    agentKl: avg((p) => p.agentKl),
    agentAgreement: avg((p) => p.agentAgreement),
    heldOutKl,
    theoryKl,
  };
}

/** The summary, the tests against SFT and the ablations of a set of compare results. */
export function compareTables(inputs: string[], alpha: number): CompareTables {
  const summary: MethodSummary[] = [];
  const vsSft: { label: string; diffs: number[]; env: string; method: string; metric: string; methodMean: number; sftMean: number }[] = [];
  const ablations: (Omit<AblationTest, keyof CorrectedTest> & { label: string; diffs: number[] })[] = [];
  for (const [env, { runs: found, cycles }] of readCompareResults(inputs)) {
    // One method order for every env and any input order.
    const runs = new Map([...found].sort(([a], [b]) => methodRank(a) - methodRank(b) || a.localeCompare(b)));
    for (const [method, bySeed] of runs) summary.push(summarise(env, method, bySeed, cycles.get(method)));
    const sft = runs.get("sft");
    for (const [method, bySeed] of runs) {
      if (!sft || method === "sft") continue;
      for (const c of pairedMetrics(env, method, "sft", bySeed, sft))
        vsSft.push({ label: c.label, diffs: c.diffs, env, method, metric: c.metric, methodMean: c.methodMean, sftMean: c.baselineMean });
    }
    for (const { method, baseline, question } of ABLATIONS) {
      const a = runs.get(method);
      const b = runs.get(baseline);
      if (!a || !b) continue;
      for (const c of pairedMetrics(env, method, baseline, a, b))
        ablations.push({
          label: c.label,
          diffs: c.diffs,
          env,
          method,
          baseline,
          question,
          metric: c.metric,
          methodMean: c.methodMean,
          baselineMean: c.baselineMean,
        });
    }
  }
  const correct = <T extends { label: string; diffs: number[] }>(input: T[]) =>
    correctedPairedTests(input, alpha).map((t, i) => {
      const { label: _label, diffs: _diffs, ...rest } = input[i];
      return { ...t, ...rest };
    });
  return { summary, tests: correct(vsSft), ablations: correct(ablations) };
}

const signed = (x: number, d = 3) => (Number.isFinite(x) ? (x >= 0 ? "+" : "−") + Math.abs(x).toFixed(d) : String(x));
const pValue = (x: number) => (Number.isNaN(x) ? "–" : x < 1e-4 ? x.toExponential(1) : x.toFixed(4));
const interval = (t: CorrectedTest) => (Number.isNaN(t.ciSimultaneous[0]) ? "–" : `[${signed(t.ciSimultaneous[0])}, ${signed(t.ciSimultaneous[1])}]`);
const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
/** A test's last cells: the difference, its simultaneous interval, p, Holm's p, the verdict. */
const outcome = (t: CorrectedTest) => [signed(t.mean), interval(t), pValue(t.p), pValue(t.pHolm), t.significant ? "yes" : "no"];

function familyLine(tests: CorrectedTest[], what: string): string {
  const m = tests[0]?.family.m ?? 0;
  return (
    `${what} Holm correction over all ${m} testable tests (family-wise α = ${tests[0]?.family.alpha ?? "–"}); intervals are ` +
    `Bonferroni-simultaneous (level 1 − α/${m}); a difference with no spread over seeds is untestable (–).`
  );
}

/** Means per env and method, held-out KL cycle by cycle beside the theory's prediction. */
export function summaryMarkdown(summary: MethodSummary[]): string {
  const opt = (x: number | null, d: number) => (x === null ? "–" : x.toFixed(d));
  const path = (xs: (number | null)[]) => (xs.length && xs.every((x) => x !== null) ? xs.map((x) => x!.toFixed(3)).join(" → ") : "–");
  return [
    "Means over seeds. Held-out KL is KL(expert ‖ agent) at the held-out expert states after each cycle (cycle 0 = the SFT start); " +
      "the theory column is what the exact cycle at the method's β would give from the same start.",
    "",
    "| env | method | seeds | success | KL at expert states | KL at agent states | agreement at agent states | held-out KL per cycle | theory |",
    "|---|---|---|---|---|---|---|---|---|",
    ...summary.map((m) =>
      row([
        m.env,
        m.method,
        m.seeds,
        m.success.toFixed(3),
        m.expertKl.toFixed(3),
        opt(m.agentKl, 2),
        opt(m.agentAgreement, 3),
        path(m.heldOutKl),
        path(m.theoryKl),
      ]),
    ),
  ].join("\n");
}

/** The tests against SFT as Markdown: one line per test. */
export function tableMarkdown(tests: TableTest[]): string {
  const lines = [
    familyLine(tests, "Paired differences to SFT (same seed, same warm start)."),
    "",
    "| env | method | metric | seeds | method | SFT | Δ (method − SFT) | simultaneous interval | p | p (Holm) | significant |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...tests.map((t) => row([t.env, t.method, t.metric, t.n, t.methodMean.toFixed(3), t.sftMean.toFixed(3), ...outcome(t)])),
  ];
  return lines.join("\n") + "\n";
}

/** The ablations as Markdown: one line per test. */
export function ablationMarkdown(tests: AblationTest[]): string {
  return (
    [
      familyLine(tests, "Ablations: each method paired with the same method without one part (same seed, same warm start, same budget), a family of its own."),
      "",
      "| env | what it measures | method − baseline | metric | seeds | method | baseline | Δ | simultaneous interval | p | p (Holm) | significant |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|",
      ...tests.map((t) =>
        row([t.env, t.question, `${t.method} − ${t.baseline}`, t.metric, t.n, t.methodMean.toFixed(3), t.baselineMean.toFixed(3), ...outcome(t)]),
      ),
    ].join("\n") + "\n"
  );
}

/** All three parts, as `compare-table` prints them and `compare-plan` writes table.md. */
export function tablesMarkdown(t: CompareTables): string {
  const parts = [summaryMarkdown(t.summary) + "\n", tableMarkdown(t.tests)];
  if (t.ablations.length) parts.push(ablationMarkdown(t.ablations));
  return parts.join("\n");
}

export async function compareTableCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { strings: ["alpha", "out"], booleans: ["json"], positionals: true });
  if (!positionals.length) throw new UsageError("compare-table needs one or more compare results (folders with compare.json, or the files)");
  const alpha = values.alpha === undefined ? 0.05 : Number(values.alpha);
  if (!(alpha > 0 && alpha < 1)) throw new UsageError(`--alpha must be a number in (0, 1), got ${JSON.stringify(values.alpha)}`);
  const tables = compareTables(positionals, alpha);
  const text = values.json ? JSON.stringify({ alpha, inputs: positionals, ...tables }, null, 2) + "\n" : tablesMarkdown(tables);
  if (values.out) writeFileAtomic(String(values.out), text);
  else process.stdout.write(text);
  return 0;
}
