/**
 * `stepagent compare-table DIR|FILE… [--alpha 0.05] [--json] [--out FILE]`
 * One table over several `compare` results (folders holding compare.json, or the files): the
 * runs of one env may be split over processes by seed and are merged; every method is paired with
 * SFT seed by seed on each env and metric, and the whole family of tests — every method × env ×
 * metric — is Holm-corrected at level α, with Bonferroni-simultaneous intervals.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { parseFlags, UsageError } from "./options";
import { InputError } from "../core/errors";
import { correctedPairedTests, type CorrectedTest } from "../analysis/multiple";
import { writeFileAtomic } from "../core/atomic";

const perSeedSchema = z.object({
  seed: z.number().int(),
  success: z.number(),
  kl: z.number(),
  expertKl: z.number().optional(),
  agentKl: z.number().optional(),
  agentAgreement: z.number().optional(),
});
const compareJsonSchema = z.object({
  env: z.string(),
  budget: z.record(z.unknown()),
  rows: z.array(z.object({ method: z.string(), perSeed: z.array(perSeedSchema) })),
});
type PerSeed = z.infer<typeof perSeedSchema>;

/** The metrics tested against SFT; a result without a metric's field (older files) skips it. */
const METRICS: { name: string; get: (p: PerSeed) => number | undefined }[] = [
  { name: "success", get: (p) => p.success },
  { name: "KL at expert states", get: (p) => p.expertKl ?? p.kl },
  { name: "KL at agent states", get: (p) => p.agentKl },
];

export interface TableTest extends CorrectedTest {
  env: string;
  method: string;
  metric: string;
  /** Mean of the metric for the method and for SFT over the paired seeds. */
  methodMean: number;
  sftMean: number;
}

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

/** Reads compare results and merges the seeds of each env (method → seed → values). */
export function readCompareResults(inputs: string[]): Map<string, { budget: string; files: string[]; runs: Map<string, Map<number, PerSeed>> }> {
  const envs = new Map<string, { budget: string; files: string[]; runs: Map<string, Map<number, PerSeed>> }>();
  for (const input of inputs) {
    const file = fs.existsSync(input) && fs.statSync(input).isDirectory() ? path.join(input, "compare.json") : input;
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
    const env = envs.get(r.env) ?? { budget, files: [] as string[], runs: new Map<string, Map<number, PerSeed>>() };
    if (env.budget !== budget)
      throw new InputError(file, `${r.env} was run with budget ${budget}, ${env.files[0]} with ${env.budget}; only runs of one budget can be merged`);
    env.files.push(file);
    for (const row of r.rows) {
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
    }
    envs.set(r.env, env);
  }
  return envs;
}

export function compareTable(inputs: string[], alpha: number): TableTest[] {
  const input: { label: string; diffs: number[]; env: string; method: string; metric: string; methodMean: number; sftMean: number }[] = [];
  for (const [env, { runs }] of readCompareResults(inputs)) {
    const sft = runs.get("sft");
    if (!sft) continue;
    for (const [method, bySeed] of runs) {
      if (method === "sft") continue;
      for (const metric of METRICS) {
        const pairs = [...bySeed.values()].filter((p) => sft.has(p.seed) && metric.get(p) !== undefined && metric.get(sft.get(p.seed)!) !== undefined);
        if (!pairs.length) continue;
        const mine = pairs.map((p) => metric.get(p)!);
        const theirs = pairs.map((p) => metric.get(sft.get(p.seed)!)!);
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        const diffs = mine.map((x, i) => x - theirs[i]);
        const label = `${env}: ${method} − sft, ${metric.name}`;
        input.push({ label, diffs, env, method, metric: metric.name, methodMean: mean(mine), sftMean: mean(theirs) });
      }
    }
  }
  return correctedPairedTests(input, alpha).map((t, i) => {
    const { env, method, metric, methodMean, sftMean } = input[i];
    return { ...t, env, method, metric, methodMean, sftMean };
  });
}

/** The table as Markdown: one line per test. */
export function tableMarkdown(tests: TableTest[]): string {
  const f = (x: number, d = 3) => (Number.isFinite(x) ? (x >= 0 ? "+" : "−") + Math.abs(x).toFixed(d) : String(x));
  const p = (x: number) => (Number.isNaN(x) ? "–" : x < 1e-4 ? x.toExponential(1) : x.toFixed(4));
  const m = tests[0]?.family.m ?? 0;
  const lines = [
    `Paired differences to SFT (same seed, same warm start). Holm correction over all ${m} testable tests ` +
      `(family-wise α = ${tests[0]?.family.alpha ?? "–"}); intervals are Bonferroni-simultaneous (level 1 − α/${m}); ` +
      "a difference with no spread over seeds is untestable (–).",
    "",
    "| env | method | metric | seeds | method | SFT | Δ (method − SFT) | simultaneous interval | p | p (Holm) | significant |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...tests.map((t) => {
      const ci = Number.isNaN(t.ciSimultaneous[0]) ? "–" : `[${f(t.ciSimultaneous[0])}, ${f(t.ciSimultaneous[1])}]`;
      const cells = [
        t.env,
        t.method,
        t.metric,
        t.n,
        t.methodMean.toFixed(3),
        t.sftMean.toFixed(3),
        f(t.mean),
        ci,
        p(t.p),
        p(t.pHolm),
        t.significant ? "yes" : "no",
      ];
      return `| ${cells.join(" | ")} |`;
    }),
  ];
  return lines.join("\n") + "\n";
}

export async function compareTableCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { strings: ["alpha", "out"], booleans: ["json"], positionals: true });
  if (!positionals.length) throw new UsageError("compare-table needs one or more compare results (folders with compare.json, or the files)");
  const alpha = values.alpha === undefined ? 0.05 : Number(values.alpha);
  if (!(alpha > 0 && alpha < 1)) throw new UsageError(`--alpha must be a number in (0, 1), got ${JSON.stringify(values.alpha)}`);
  const tests = compareTable(positionals, alpha);
  const text = values.json ? JSON.stringify({ alpha, inputs: positionals, tests }, null, 2) + "\n" : tableMarkdown(tests);
  if (values.out) writeFileAtomic(String(values.out), text);
  else process.stdout.write(text);
  return 0;
}
