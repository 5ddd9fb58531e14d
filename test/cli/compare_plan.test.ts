import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const BIN = path.resolve(__dirname, "../../dist/cli/main.js");
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });

test("compare-plan: one compare per env and seed, two at a time; the table merges them; a rerun resumes with what is missing", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-plan-"));
  const planFile = path.join(dir, "plan.json");
  const budget = { trainTasks: 6, testTasks: 5, sftSteps: 10, cycles: 1, samplesPerStep: 1 };
  const model = { dModel: 32, heads: 2, layers: 1, context: 64, maxActionTokens: 16 };
  fs.writeFileSync(
    planFile,
    JSON.stringify({
      seeds: 2,
      firstSeed: 3,
      methods: ["sft", "rft"],
      budget,
      envs: { recipe: { model } },
      config: { common: { optimisation: { steps: 3 } } },
    }),
  );
  const out = path.join(dir, "out");
  const r = cli("compare-plan", planFile, "--out", out, "--jobs", "2");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /2 runs in the plan \(recipe × 2 seeds\), 0 done, 2 at a time/);
  const folders = ["recipe-seed-3", "recipe-seed-4"].map((f) => path.join(out, f));
  // Each folder is the same compare an explicit command gives for that seed.
  const single = cli("compare", "--plan", planFile, "--env", "recipe", "--seeds", "1", "--first-seed", "4", "--json");
  assert.equal(single.status, 0, single.stderr);
  const mine = JSON.parse(fs.readFileSync(path.join(folders[1], "compare.json"), "utf8"));
  assert.deepEqual(
    mine.rows.map((x: { perSeed: unknown }) => x.perSeed),
    JSON.parse(single.stdout).rows.map((x: { perSeed: unknown }) => x.perSeed),
  );
  // The merged table is compare-table's over the folders.
  const table = JSON.parse(fs.readFileSync(path.join(out, "table.json"), "utf8"));
  const direct = cli("compare-table", ...folders, "--json");
  assert.equal(direct.status, 0, direct.stderr);
  assert.deepEqual(table.tests, JSON.parse(direct.stdout).tests);
  assert.equal(table.tests[0].n, 2);
  assert.equal(fs.readFileSync(path.join(out, "table.md"), "utf8"), cli("compare-table", ...folders).stdout);
  // Resume: a seed whose result is gone is run again, the other is skipped.
  const before = fs.readFileSync(path.join(folders[0], "compare.json"), "utf8");
  fs.rmSync(folders[0], { recursive: true });
  const again = cli("compare-plan", planFile, "--out", out);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /2 runs in the plan \(recipe × 2 seeds\), 1 done, 2 at a time/);
  assert.match(again.stderr, /recipe seed 3: done — 1 finished, 0 waiting/);
  const rows = (s: string) => JSON.parse(s).rows.map((x: { perSeed: unknown }) => x.perSeed);
  assert.deepEqual(rows(fs.readFileSync(path.join(folders[0], "compare.json"), "utf8")), rows(before));
});

test("compare-plan: a missing --out, a bad env or a bad plan is one line, nothing run", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-plan-"));
  const planFile = path.join(dir, "plan.json");
  fs.writeFileSync(planFile, JSON.stringify({ seeds: 1, methods: ["sft"], envs: { qa: {} } }));
  let r = cli("compare-plan", planFile);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /compare-plan needs --out DIR/);
  r = cli("compare-plan", planFile, "--out", path.join(dir, "o"), "--envs", "shop");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--envs/);
  assert.equal(fs.existsSync(path.join(dir, "o")), false);
  fs.writeFileSync(planFile, JSON.stringify({ seeds: 0, methods: ["sft"], envs: { qa: {} } }));
  r = cli("compare-plan", planFile, "--out", path.join(dir, "o"));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /plan\.json: seeds: Number must be greater than or equal to 1/);
  assert.equal(r.stderr.trim().split("\n").length, 1);
});
