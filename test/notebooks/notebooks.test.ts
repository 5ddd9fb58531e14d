/**
 * Every notebook in notebooks/ executed with the real tslab kernel through Jupyter's own executor
 * (nbclient) and exported to HTML: no broken values in any output or in the report, a report that
 * needs nothing outside itself, and for the notebooks below their numbers checked against the
 * library run in this process. The numbers are read at full precision by a probe run in the
 * notebook's kernel after its last cell (it appears in neither the notebook nor the report).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { reportNotebook } from "../../src/notebook/report";
import { initBackend } from "../../src/backend";
import { makeConvergenceTask, runStepAgent } from "../../src/methods/tabular/cycle";
import { trainText, textBudget } from "../../src/methods/text/driver";
import { HfPolicy } from "../../src/hf/policy";
import { writeFixtureModel } from "../../src/hf/fixture";
import { checkNotebook, checkReport, formatFindings, type NotebookCell } from "./broken";
import { externalReferences } from "./travel";

const ROOT = path.resolve(__dirname, "../..");
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-nb-"));

interface Expectation {
  /** Code run after the last cell; it prints one JSON line. */
  probe: string;
  charts: number;
  check(values: any, svgs: string[]): void | Promise<void>;
}

const expected: Record<string, Expectation> = {
  "01-quickstart.ipynb": {
    probe: "console.log(JSON.stringify({ kl: run.cycles.map((c) => c.kl), theoryKl: run.cycles.map((c) => c.theoryKl) }));",
    charts: 1,
    async check(summary, svgs) {
      // The live plot is one output, updated in place, showing the final cycle.
      assert.equal(svgs.length, 1);
      assert.match(svgs[0], /cycle 3/);
      await initBackend();
      const task = makeConvergenceTask({ states: 20, actions: 5, horizon: 6, seed: 0 });
      const run = await runStepAgent(task, { beta: 2, reflection: "implicit", mode: "sampled", cycles: 3, seed: 1 });
      assert.deepEqual(summary.kl, run.cycles.map((c) => c.kl));
      assert.deepEqual(summary.theoryKl, run.cycles.map((c) => c.theoryKl));
      assert.ok(summary.kl[3] < summary.kl[0] / 20);
    },
  },
  "02-convergence-analysis.ipynb": {
    probe: `console.log(JSON.stringify({
  exact: exact.runs.map((r) => ({ beta: r.beta, reflection: r.reflection, contraction: meanContraction(r), kl: r.cycles.map((c) => c.kl), theoryKl: r.cycles.map((c) => c.theoryKl) })),
  sampled: sampled.runs.map((r) => ({ beta: r.beta, reflection: r.reflection, kl: r.cycles.map((c) => c.kl), theoryKl: r.cycles.map((c) => c.theoryKl), band: samplingBand(sampled, r, r.cycles.length - 1) })),
}));`,
    charts: 3,
    check(summary) {
      assert.equal(summary.exact.length, 10);
      for (const run of summary.exact) {
        if (run.beta !== 1) assert.ok(Math.abs(run.contraction - (1 - 1 / run.beta)) < 1e-8, `β=${run.beta} ${run.reflection}: ${run.contraction}`);
        run.kl.forEach((kl: number, k: number) => assert.ok(Math.abs(kl - run.theoryKl[k]) <= 1e-6 * run.theoryKl[k] + 1e-15, `β=${run.beta} cycle ${k}`));
      }
      for (const run of summary.sampled.filter((r: { beta: number }) => r.beta === 2)) {
        const last = run.kl.length - 1;
        const ratio = (run.kl[last] - run.theoryKl[last]) / run.band;
        assert.ok(ratio > 0.5 && ratio < 2, `${run.reflection}: excess/band ${ratio}`);
      }
    },
  },
  "03-baselines.ipynb": {
    probe: `console.log(JSON.stringify(runs.map((r) => ({ method: r.method, kl: r.cycles.map((c) => c.kl), ret: r.cycles.map((c) => c.expectedReturn),
  agentSamples: r.cycles.map((c) => c.agentSamples), expertSteps: r.cycles.map((c) => c.expertSteps) }))));`,
    charts: 2,
    check(summary) {
      const by = Object.fromEntries(summary.map((r: { method: string }) => [r.method, r]));
      assert.deepEqual(Object.keys(by).sort(), ["ppo-outcome", "sft", "stepagent-implicit", "stepagent-inverse"]);
      // Same agent-sample budget for StepAgent and PPO, same expert steps for StepAgent and SFT.
      assert.deepEqual(by["ppo-outcome"].agentSamples, by["stepagent-implicit"].agentSamples);
      assert.deepEqual(by["sft"].expertSteps, by["stepagent-implicit"].expertSteps);
      assert.deepEqual(by["stepagent-inverse"].expertSteps, by["stepagent-implicit"].expertSteps);
      for (const m of ["sft", "stepagent-implicit", "stepagent-inverse"]) {
        const kl = by[m].kl;
        assert.ok(kl[kl.length - 1] < kl[0] / 100, `${m}: ${kl[0]} → ${kl[kl.length - 1]}`);
      }
      // PPO with the outcome reward raises the return.
      const ret = by["ppo-outcome"].ret;
      assert.ok(ret[ret.length - 1] > ret[0]);
    },
  },
  "04-language-agents.ipynb": {
    // tslab does not rewrite shorthand properties ({ full }) to the cell's exports: name each one.
    probe: "console.log(JSON.stringify({ full: full, env: envName, seeds: seeds, methods: methods, budget: budget, backend: backend.name, finals: finals, committed: committed, committedSummary: committedSummary, committedAblations: committedAblations }));",
    charts: 2,
    async check(summary) {
      // The committed comparison the notebook shows is the table in docs/compare/full: every mean, test and ablation of it.
      const committedFile = path.join(ROOT, "docs/compare/full/table.json");
      assert.ok(fs.existsSync(committedFile), "docs/compare/full/table.json is missing");
      const file = JSON.parse(fs.readFileSync(committedFile, "utf8"));
      assert.ok(file.tests.length >= 3 && file.ablations.length >= 3 && file.summary.length >= 2);
      assert.deepEqual(summary.committed, file.tests);
      assert.deepEqual(summary.committedAblations, file.ablations);
      assert.deepEqual(summary.committedSummary, file.summary);
      // Every method from one SFT warm start per seed; the numbers equal trainText here with the same seed.
      assert.equal(summary.full, false);
      assert.deepEqual(summary.methods, ["sft", "stepagent-implicit", "stepagent-inverse", "rft"]);
      assert.equal(summary.finals.length, summary.seeds.length * summary.methods.length);
      const budget = textBudget("household", true, true);
      assert.deepEqual(summary.budget, JSON.parse(JSON.stringify(budget)));
      const backend = await initBackend();
      assert.equal(summary.backend, backend.name);
      const sft = await trainText({ ...budget, env: "household", method: "sft", seed: 1 });
      const implicit = await trainText({ ...budget, env: "household", method: "stepagent-implicit", seed: 1, warmStart: sft.warmStart });
      for (const r of [sft, implicit]) {
        const f = summary.finals.find((x: { method: string; seed: number }) => x.method === r.method && x.seed === 1);
        const last = r.cycles[r.cycles.length - 1];
        assert.equal(f.success, last.evaluation.successRate, r.method);
        assert.equal(f.kl, last.kl, r.method);
        r.policy.dispose();
      }
    },
  },
  "05-pretrained-models.ipynb": {
    probe: `console.log(JSON.stringify({ fixture: fixture, budget: budget, policyOptions: policyOptions,
  runs: [implicit, inverse].map((r) => ({ method: r.method, kl: r.cycles.map((c) => c.kl), success: r.cycles.map((c) => c.evaluation.successRate) })) }));`,
    charts: 0,
    async check(summary) {
      // Without STEPAGENT_MODEL_DIR the notebook runs on the fixture model; the same fixture written
      // here and trained by the library in this process gives the same numbers.
      assert.equal(summary.fixture, true, "STEPAGENT_MODEL_DIR is set: the notebook ran on a real model, these checks are for the fixture");
      await initBackend();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-nb-model-"));
      writeFixtureModel(dir, { kind: "llama", seed: 31, config: { max_position_embeddings: 512 } });
      const run = { ...summary.budget, env: "household", seed: 0 };
      const implicit = await trainText({ ...run, method: "stepagent-implicit", pretrained: { policy: HfPolicy.load(dir, summary.policyOptions), key: dir } });
      const inverse = await trainText({
        ...run,
        method: "stepagent-inverse",
        warmStart: implicit.warmStart,
        pretrained: { policy: HfPolicy.load(dir, summary.policyOptions), key: dir },
      });
      for (const [k, r] of [implicit, inverse].entries()) {
        const nb = summary.runs[k];
        assert.equal(nb.method, r.method);
        assert.deepEqual(
          nb.success,
          r.cycles.map((c) => c.evaluation.successRate),
        );
        r.cycles.forEach((c, i) => assert.ok(Math.abs(nb.kl[i] - c.kl) < 1e-9, `${r.method} cycle ${i}: notebook ${nb.kl[i]}, here ${c.kl}`));
        // One cycle of each reflection lowers the KL to the expert at the held-out expert states.
        assert.ok(nb.kl[1] < nb.kl[0], `${r.method}: KL ${nb.kl[0]} → ${nb.kl[1]}`);
        r.policy.dispose();
      }
      // Both cycles start from the one warm start.
      assert.equal(summary.runs[1].kl[0], summary.runs[0].kl[0]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  },
};

const notebooks = fs.readdirSync(path.join(ROOT, "notebooks")).filter((f) => f.endsWith(".ipynb")).sort();

test("the notebooks' expectations name notebooks that exist", () => {
  for (const name of Object.keys(expected)) assert.ok(notebooks.includes(name), name);
});

for (const name of notebooks) {
  const spec = expected[name];
  test(`${name}: runs headless, no broken values, a report that travels${spec ? ", numbers equal an independent run" : ""}`, async () => {
    const r = reportNotebook(path.join(ROOT, "notebooks", name), OUT, spec ? { probe: spec.probe } : {});
    console.log(`# ${name}: executed headless in ${r.seconds.toFixed(1)} s`);
    const nb = JSON.parse(fs.readFileSync(r.ipynb, "utf8")) as { cells: NotebookCell[] };
    const html = fs.readFileSync(r.html, "utf8");
    assert.equal(formatFindings(checkNotebook(nb, name)), "");
    assert.equal(formatFindings(checkReport(html, `${name} report`)), "");
    assert.deepEqual(externalReferences(html), [], "the report references files or URLs outside itself");
    const outputs = nb.cells.flatMap((c) => c.outputs ?? []);
    const svgs = outputs.filter((o) => o.data?.["image/svg+xml"]).map((o) => [o.data!["image/svg+xml"] as string | string[]].flat().join(""));
    // Every chart is inlined in the report as a non-empty <svg> (nbconvert 6.5 alone would leave them empty).
    const inlined = html.match(/<svg[^>]*class="marks"[\s\S]*?<\/svg>/g) ?? [];
    assert.equal(inlined.length, svgs.length, `${inlined.length} charts in the report, ${svgs.length} in the notebook`);
    if (spec) {
      assert.equal(svgs.length, spec.charts, `${svgs.length} charts`);
      assert.ok(r.probe, "the probe printed nothing");
      // The probe's output stays out of the notebook and the report.
      assert.ok(!html.includes(r.probe!.trim().slice(0, 40)));
      await spec.check(JSON.parse(r.probe!), svgs);
    }
  });
}
