import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const BIN = path.resolve(__dirname, "../../dist/cli/main.js");
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, "compare-table", ...args], { encoding: "utf8" });

// compare.json files as compare writes them (only the fields compare-table reads).
function result(dir: string, name: string, env: string, budget: object, rows: Record<string, [number, number, number][]>): string {
  const file = path.join(dir, `${name}.json`);
  const perSeed = (xs: [number, number, number][]) => xs.map(([seed, success, kl]) => ({ seed, success, kl, expertKl: kl, agentKl: 2 * kl }));
  fs.writeFileSync(file, JSON.stringify({ env, budget, rows: Object.entries(rows).map(([method, xs]) => ({ method, perSeed: perSeed(xs) })) }));
  return file;
}

test("compare-table: seeds split over files merge; every method × env × metric is one Holm family", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-table-"));
  const b = { trainTasks: 10 };
  const a = result(dir, "a", "qa", b, {
    sft: [
      [0, 0.5, 1],
      [1, 0.4, 1.2],
    ],
    rft: [
      [0, 0.6, 0.9],
      [1, 0.4, 1.0],
    ],
  });
  const c = result(dir, "c", "qa", b, { sft: [[2, 0.3, 1.1]], rft: [[2, 0.5, 1.0]] });
  const h = result(
    dir,
    "h",
    "household",
    { trainTasks: 20 },
    {
      sft: [
        [0, 0.2, 0.5],
        [1, 0.3, 0.4],
      ],
      eto: [
        [0, 0.2, 0.45],
        [1, 0.35, 0.3],
      ],
    },
  );
  const r = run(a, c, h, "--json");
  assert.equal(r.status, 0, r.stderr);
  const { tests } = JSON.parse(r.stdout);
  assert.deepEqual(
    tests.map((t: { label: string }) => t.label),
    [
      "qa: rft − sft, success",
      "qa: rft − sft, KL at expert states",
      "qa: rft − sft, KL at agent states",
      "household: eto − sft, success",
      "household: eto − sft, KL at expert states",
      "household: eto − sft, KL at agent states",
    ],
  );
  // The differences are seed by seed, across both qa files: +0.1, 0, +0.2 in success.
  const s = tests[0];
  assert.equal(s.n, 3);
  assert.ok(Math.abs(s.mean - 0.1) < 1e-12);
  assert.ok(Math.abs(s.sd - 0.1) < 1e-12);
  assert.ok(Math.abs(tests[2].mean - 2 * tests[1].mean) < 1e-12);
  for (const t of tests) assert.equal(t.family.m, 6);
  // Holm: the smallest p is multiplied by 6.
  const ps = tests.map((t: { p: number }) => t.p);
  const k = ps.indexOf(Math.min(...ps));
  assert.ok(Math.abs(tests[k].pHolm - Math.min(1, 6 * ps[k])) < 1e-12);
  const md = run(a, c, h);
  assert.match(md.stdout, /Holm correction over all 6 testable tests/);
  // A folder of result folders (as compare-plan writes) reads every compare.json one level down.
  const plan = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-table-plan-"));
  for (const [name, file] of Object.entries({ "qa-seed-0": a, "qa-seed-2": c, "household-seed-0": h })) {
    fs.mkdirSync(path.join(plan, name));
    fs.copyFileSync(file, path.join(plan, name, "compare.json"));
    fs.writeFileSync(path.join(plan, `${name}.log`), "a log beside the folder is not a result\n");
  }
  const fromPlan = JSON.parse(run(plan, "--json").stdout).tests;
  const byLabel = (ts: { label: string }[]) => [...ts].sort((x, y) => x.label.localeCompare(y.label));
  assert.deepEqual(byLabel(fromPlan), byLabel(tests));
  assert.match(md.stdout, /\| qa \| rft \| success \| 3 \| 0\.500 \| 0\.400 \| \+0\.100 \|/);
});

test("compare-table: mixed budgets, a seed twice with different numbers, or a missing file are refused, naming the file", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-table-"));
  const a = result(dir, "a", "qa", { trainTasks: 10 }, { sft: [[0, 0.5, 1]] });
  const other = result(dir, "b", "qa", { trainTasks: 11 }, { sft: [[1, 0.5, 1]] });
  let r = run(a, other);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /b\.json: qa was run with budget \{"trainTasks":11\}, .*a\.json with \{"trainTasks":10\}; only runs of one budget can be merged/);
  // A budget written in another key order is the same budget.
  const ordered = result(dir, "ordered", "qa", { trainTasks: 10, model: { layers: 2, context: 96 } }, { sft: [[0, 0.5, 1]] });
  const reordered = result(dir, "reordered", "qa", { model: { context: 96, layers: 2 }, trainTasks: 10 }, { rft: [[0, 0.7, 0.8]] });
  r = run(ordered, reordered, "--json");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).tests[0].label, "qa: rft − sft, success");
  // The same run in two results counts once (SFT is run with each batch of methods); a seed whose
  // numbers differ between two results is refused.
  const again = result(dir, "again", "qa", { trainTasks: 10 }, { sft: [[0, 0.5, 1]], rft: [[0, 0.7, 0.8]] });
  r = run(a, again, "--json");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).tests[0].n, 1);
  const differs = result(dir, "differs", "qa", { trainTasks: 10 }, { sft: [[0, 0.6, 1]] });
  r = run(a, differs);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /differs\.json: qa sft seed 0 differs from the same run in another result/);
  r = run(path.join(dir, "none"));
  assert.match(r.stderr, /none: no such file/);
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-table-empty-"));
  r = run(empty);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /stepagent-table-empty-\w+: no compare\.json in this folder or its subfolders/);
  r = run(a, "--alpha", "2");
  assert.match(r.stderr, /--alpha must be a number in \(0, 1\), got "2"/);
});

test("compare-table: per-method means with held-out KL per cycle (seed-weighted over files), and the ablations as a Holm family of their own", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-table-"));
  const b = { trainTasks: 10 };
  // perCycle as compare writes it: means over the file's seeds, cycle by cycle.
  const write = (name: string, rows: Record<string, [number, number, number][]>, perCycle: Record<string, [number, number | null][]>) => {
    const file = path.join(dir, `${name}.json`);
    const perSeed = (xs: [number, number, number][]) => xs.map(([seed, success, kl]) => ({ seed, success, kl, agentKl: 3 * kl, agentAgreement: 1 - kl }));
    fs.writeFileSync(
      file,
      JSON.stringify({
        env: "recipe",
        budget: b,
        rows: Object.entries(rows).map(([method, xs]) => ({ method, perSeed: perSeed(xs) })),
        perCycle: Object.entries(perCycle).map(([method, cs]) => ({
          method,
          cycles: cs.map(([heldOutKl, theoryKl], cycle) => ({ cycle, heldOutKl, theoryKl })),
        })),
      }),
    );
    return file;
  };
  // File 1: seeds 0, 1 of sft, inverse, anchor-only; file 2: seed 2 of them, and sft seeds 0, 1 again (identical).
  const sft01: [number, number, number][] = [
    [0, 0.5, 1],
    [1, 0.4, 1.2],
  ];
  const f1 = write(
    "one",
    {
      sft: sft01,
      "stepagent-inverse": [
        [0, 0.6, 0.9],
        [1, 0.5, 1.0],
      ],
      "stepagent-anchor-only": [
        [0, 0.7, 0.95],
        [1, 0.4, 1.1],
      ],
    },
    {
      sft: [[1.1, null]],
      "stepagent-inverse": [
        [1.1, 1.1],
        [0.95, 0],
      ],
      "stepagent-anchor-only": [
        [1.1, 1.1],
        [1.025, 0],
      ],
    },
  );
  const f2 = write(
    "two",
    { sft: [[2, 0.3, 0.8]], "stepagent-inverse": [[2, 0.45, 0.6]], "stepagent-anchor-only": [[2, 0.3, 0.7]] },
    {
      sft: [[0.8, null]],
      "stepagent-inverse": [
        [0.8, 0.8],
        [0.6, 0],
      ],
      "stepagent-anchor-only": [
        [0.8, 0.8],
        [0.7, 0],
      ],
    },
  );
  const f3 = write("three", { sft: sft01 }, { sft: [[1.1, null]] });
  const r = run(f1, f2, f3, "--json");
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  // Means by hand: inverse success (0.6 + 0.5 + 0.45) / 3; KL (0.9 + 1 + 0.6) / 3; agent KL three times that.
  const inv = out.summary.find((m: { method: string }) => m.method === "stepagent-inverse");
  assert.equal(inv.seeds, 3);
  close(inv.success, 1.55 / 3);
  close(inv.expertKl, 2.5 / 3);
  close(inv.agentKl, 2.5);
  close(inv.agentAgreement, 1 - 2.5 / 3);
  // Per cycle: (2 × file one's mean + 1 × file two's) / 3; the theory the same way.
  close(inv.heldOutKl[0], (2 * 1.1 + 0.8) / 3);
  close(inv.heldOutKl[1], (2 * 0.95 + 0.6) / 3);
  assert.deepEqual(inv.theoryKl, [1, 0]);
  // SFT's seeds 0, 1 appear twice and count once.
  const sft = out.summary.find((m: { method: string }) => m.method === "sft");
  assert.equal(sft.seeds, 3);
  close(sft.heldOutKl[0], 1);
  assert.deepEqual(sft.theoryKl, [null]);
  // Ablations: inverse − anchor-only seed by seed (success −0.1, +0.1, +0.15), a family of 3 (no
  // other ablation's methods ran), separate from the 6 tests against SFT.
  assert.deepEqual(
    out.ablations.map((t: { label: string; question: string }) => [t.label, t.question]),
    [
      ["recipe: stepagent-inverse − stepagent-anchor-only, success", "the step signal"],
      ["recipe: stepagent-inverse − stepagent-anchor-only, KL at expert states", "the step signal"],
      ["recipe: stepagent-inverse − stepagent-anchor-only, KL at agent states", "the step signal"],
    ],
  );
  const s = out.ablations[0];
  close(s.mean, 0.05);
  close(s.sd, Math.sqrt(((-0.15) ** 2 + 0.05 ** 2 + 0.1 ** 2) / 2));
  close(s.methodMean, 1.55 / 3);
  close(s.baselineMean, 1.4 / 3);
  for (const t of out.ablations) assert.equal(t.family.m, 3);
  for (const t of out.tests) assert.equal(t.family.m, 6);
  // The Markdown has all three parts.
  const md = run(f1, f2, f3).stdout;
  assert.match(md, /\| recipe \| stepagent-inverse \| 3 \| 0\.517 \| 0\.833 \| 2\.50 \| 0\.167 \| 1\.000 → 0\.833 \| 1\.000 → 0\.000 \|/);
  assert.match(md, /\| recipe \| the step signal \| stepagent-inverse − stepagent-anchor-only \| success \| 3 \| 0\.517 \| 0\.467 \| \+0\.050 \|/);
  // A file without per-cycle results leaves the method's per-cycle means out rather than averaging a subset.
  const bare = result(dir, "bare", "recipe", b, { "stepagent-inverse": [[7, 0.5, 1]] });
  const withBare = JSON.parse(run(f1, bare, "--json").stdout).summary.find((m: { method: string }) => m.method === "stepagent-inverse");
  assert.equal(withBare.seeds, 3);
  assert.deepEqual(withBare.heldOutKl, []);
  // Per-cycle means over seeds that overlap only in part cannot be separated: refused, naming the file.
  const partial = write(
    "partial",
    {
      sft: [
        [1, 0.4, 1.2],
        [5, 0.1, 2],
      ],
    },
    { sft: [[1.6, null]] },
  );
  const bad = run(f1, partial);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /partial\.json: sft's per-cycle results cover seeds 1, 5, another result's 0, 1: they overlap but differ/);
});

test("compare-table: every ablation pairs the right two methods; Holm steps down over the family; input order does not matter", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-table-"));
  // Success per seed (0, 1, 2) of each method; KL = 1 − success so the KL tests mirror success.
  const success: Record<string, number[]> = {
    sft: [0.3, 0.4, 0.5],
    "sft-continued": [0.35, 0.42, 0.5],
    "stepagent-implicit": [0.3, 0.5, 0.45],
    "stepagent-inverse": [0.5, 0.45, 0.6],
    "stepagent-anchor-only": [0.4, 0.45, 0.52],
    "stepagent-no-anchor": [0.1, 0.3, 0.2],
  };
  const rows = (methods: string[]) => Object.fromEntries(methods.map((m) => [m, success[m].map((s, seed) => [seed, s, 1 - s] as [number, number, number])]));
  const names = Object.keys(success);
  const a = result(dir, "a", "recipe", { trainTasks: 5 }, rows(names.slice(0, 3)));
  const b = result(dir, "b", "recipe", { trainTasks: 5 }, rows(["sft", ...names.slice(3)]));
  const r1 = run(a, b, "--json");
  assert.equal(r1.status, 0, r1.stderr);
  const out = JSON.parse(r1.stdout);
  const bySuccess = out.ablations.filter((t: { metric: string }) => t.metric === "success");
  const diff = (x: string, y: string) => success[x].reduce((acc, v, i) => acc + v - success[y][i], 0) / 3;
  assert.deepEqual(
    bySuccess.map((t: { method: string; baseline: string; question: string }) => [t.method, t.baseline, t.question]),
    [
      ["stepagent-inverse", "stepagent-anchor-only", "the step signal"],
      ["stepagent-inverse", "stepagent-no-anchor", "the NLL anchor"],
      ["stepagent-inverse", "sft-continued", "inverse over SFT on its budget"],
      ["stepagent-implicit", "sft-continued", "implicit over SFT on its budget"],
    ],
  );
  for (const t of bySuccess) assert.ok(Math.abs(t.mean - diff(t.method, t.baseline)) < 1e-12, t.label);
  // Holm over the ablation family: the i-th smallest p times (m − i), running maximum.
  const ps = out.ablations.map((t: { p: number }) => t.p).filter((p: number) => !Number.isNaN(p) && p !== null);
  const m = ps.length;
  assert.equal(out.ablations[0].family.m, m);
  const sorted = [...ps].sort((x, y) => x - y);
  const holm: number[] = [];
  sorted.forEach((p, i) => holm.push(Math.min(1, Math.max(i ? holm[i - 1] : 0, (m - i) * p))));
  for (const t of out.ablations) if (t.p !== null) assert.ok(Math.abs(t.pHolm - holm[sorted.indexOf(t.p)]) < 1e-12, t.label);
  // Methods in the registry's order whatever the input order: the same JSON with the files swapped.
  const r2 = JSON.parse(run(b, a, "--json").stdout);
  assert.deepEqual(
    out.summary.map((s: { method: string }) => s.method),
    names,
  );
  assert.deepEqual({ ...r2, inputs: null }, { ...out, inputs: null });
});
