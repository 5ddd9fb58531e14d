/**
 * `stepagent compare --env household|shop|qa|recipe [--seeds 5] [--first-seed 0] [--methods a,b,…] [--quick] [--json] [--out DIR]
 *    [budget and method flags, see BUDGET_FLAGS] | [--plan FILE]  [--model HF_DIR [--lora-rank N …] (src/hf/cli.ts)]`
 * Every method on the same seeds, warm start and budget; success/KL per method as mean with a 95%
 * t-interval over seeds (arquero table), success and KL per cycle (vega-lite), one HTML page.
 * Each row states its method's full config (β, λ, the optimisation budget) and the gradient steps
 * and examples its updates actually took. With --plan the budget, seeds, methods and method
 * configs come from a committed file (only --seeds/--first-seed may split its seeds over
 * processes). Beside success: the held-out split's overlap with training, the exact KL(π_E‖π) at
 * held-out expert states and at the states the agent reaches itself, per cycle, and paired tests
 * against SFT with Holm's correction over this env's tests (`compare-table` corrects over envs).
 * With --model every method trains that pretrained model (LoRA adapters or, with --full-finetune,
 * every weight) instead of the built-in transformer: the model is loaded afresh for each run and
 * set to the seed's one SFT warm start (its adapters), so the comparison is the same protocol.
 */
import * as path from "node:path";
import * as aq from "arquero";
import { SingleBar, Presets } from "cli-progress";
import { BUDGET_FLAGS, UsageError, budgetOptions, intOption, listOption, outFolderOption, parseFlags } from "./options";
import { initBackend, describeBackend, backendJson, backendLabel } from "../backend";
import type { TextPolicy } from "../policies/text_policy";
import { checkTextRun, trainText, textBudget, type TextCycleRecord, type TextTrainResult, type TextWarmStart } from "../methods/text/driver";
import { TEXT_METHODS } from "../methods/registry";
import { meanCi95 } from "../analysis/intervals";
import { correctedPairedTests } from "../analysis/multiple";
import { splitOverlap, type SplitOverlap } from "../analysis/overlap";
import { distanceAtAgentStates, type AgentStateDistance } from "../analysis/agent_states";
import { contractionFactor } from "../core/theory";
import { splitTasks, textEnv } from "../envs/text";
import { planBudget, readComparePlan, type ComparePlan } from "./compare_plan";
import { writeFolderAtomic, writeFileAtomic } from "../core/atomic";
import { renderSvg } from "../viz/render";
import { methodComparisonSpec } from "../viz/specs";
import { HF_STRING_FLAGS, checkHfFlagsNeedModel, hfPolicyOptions, hfPretrained, hfSftOptions } from "../hf/cli";

/** Mean Adam steps and examples per cycle over a method's runs (0 for a method without cycles). */
function meanUpdates(runs: TextTrainResult[]): { steps: number; examples: number } {
  const ups = runs.flatMap((r) => r.cycles.slice(1).map((c) => c.update ?? { steps: 0, examples: 0 }));
  const n = Math.max(1, ups.length);
  return { steps: ups.reduce((a, u) => a + u.steps, 0) / n, examples: ups.reduce((a, u) => a + u.examples, 0) / n };
}

export async function compareCommand(argv: string[]): Promise<number> {
  const strings = ["env", "seeds", "first-seed", "methods", "out", "plan", ...BUDGET_FLAGS, ...HF_STRING_FLAGS];
  // compare writes no model, so train's --merge has no meaning here.
  const { values } = parseFlags(argv, { strings, booleans: ["quick", "json", "allow-divergence", "full-finetune"] });
  checkHfFlagsNeedModel(values);
  outFolderOption(values);
  if (!values.env) throw new UsageError("compare needs --env household|shop|qa|recipe");
  const planFile = values.plan === undefined ? undefined : String(values.plan);
  const plan: ComparePlan | undefined = planFile === undefined ? undefined : readComparePlan(planFile);
  if (plan)
    for (const f of ["quick", "allow-divergence", ...BUDGET_FLAGS] as const)
      if (values[f] !== undefined) throw new UsageError(`--${f} cannot be used with --plan: the plan fixes the budget`);
  const seeds = intOption(values, "seeds", plan?.seeds ?? 5, 1);
  // Seeds first … first + seeds − 1: lets a long comparison be split over processes or machines.
  const firstSeed = intOption(values, "first-seed", plan?.firstSeed ?? 0, 0);
  const allowed: readonly string[] = plan?.methods ?? TEXT_METHODS;
  const methods: string[] = listOption(values, "methods", TEXT_METHODS, allowed, "method");
  for (const m of methods)
    if (!allowed.includes(m)) throw new UsageError(`--methods: unknown method ${JSON.stringify(m)} (methods in the plan: ${allowed.join(", ")})`);
  const family = textEnv(String(values.env));
  const { file, ...planned } = plan
    ? planBudget(plan, planFile!, family.name)
    : budgetOptions(values, textBudget(String(values.env), Boolean(values.quick), true));
  // A pretrained model: its flags checked now, its SFT step size and batch as `train --model`
  // takes them, and no built-in transformer shape in the budget.
  const hfOptions = values.model === undefined ? null : hfPolicyOptions(values, firstSeed);
  // Recorded without the adapters' seed: each run seeds them with its own seed.
  const hf = hfOptions && {
    model: path.resolve(String(values.model)),
    ...hfOptions,
    lora: hfOptions.lora && !("adapter" in hfOptions.lora) ? { ...hfOptions.lora, seed: undefined } : hfOptions.lora,
  };
  const { model: builtInModel, ...shared } = planned;
  const base = hf ? { ...shared, ...hfSftOptions(values) } : { ...shared, model: builtInModel };
  // Every method's config and β checked before the first run, not part-way through the comparison.
  for (const m of methods) checkTextRun(m, base.common, file.methods?.[m], base.allowDivergence);
  const backend = await initBackend();
  // The first run's model is loaded before anything else is printed: a bad folder is the only line.
  let preloaded = hf ? hfPretrained(values, firstSeed) : undefined;
  const log = (s: string) => !values.json && process.stderr.write(s + "\n");
  log(describeBackend(backend));
  const started = Date.now();
  const results: TextTrainResult[] = [];
  // Each cycle's policy at its own states: it samples its actions on the held-out tasks and the
  // exact KL to the expert's distribution is read where it went (per seed and method, by cycle).
  // Cycle 0 is the seed's warm start, the same policy for every method, so it is measured once.
  const agentAt = new Map<string, AgentStateDistance[]>();
  const warmAgent = new Map<number, AgentStateDistance>();
  const overlap: (SplitOverlap & { seed: number })[] = [];
  let heldOutTasks: ReturnType<typeof splitTasks>["test"] = [];
  const measure = (seed: number, method: string) => async (record: TextCycleRecord, policy: TextPolicy) => {
    const d = record.cycle === 0 && warmAgent.has(seed) ? warmAgent.get(seed)! : await distanceAtAgentStates(family, heldOutTasks, policy, { seed });
    if (record.cycle === 0) warmAgent.set(seed, d);
    const key = `${seed}/${method}`;
    agentAt.set(key, [...(agentAt.get(key) ?? []), d]);
  };
  // On a terminal, one progress bar over all runs; otherwise (logs, CI) one line per finished run.
  const bar =
    !values.json && process.stderr.isTTY
      ? new SingleBar(
          { format: "{bar} {value}/{total} runs | {label} | ETA {eta_formatted}", stream: process.stderr, hideCursor: true },
          Presets.shades_classic,
        )
      : null;
  bar?.start(seeds * methods.length, 0, { label: "" });
  try {
    // Seed by seed: the first method trains the SFT warm start, the others start from a copy of it.
    for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
      const split = splitTasks(family, seed, base.trainTasks, base.testTasks);
      overlap.push({ seed, ...splitOverlap(family, split.train, split.test) });
      heldOutTasks = split.test;
      let warmStart: TextWarmStart | undefined;
      for (const method of methods) {
        bar?.update({ label: `seed ${seed} ${method}` });
        const pretrained = hf ? (preloaded ?? hfPretrained(values, seed)) : undefined;
        preloaded = undefined;
        const r = await trainText({ ...base, env: family.name, method, seed, warmStart, pretrained, config: file.methods?.[method] }, measure(seed, method));
        warmStart = r.warmStart;
        r.policy.dispose();
        results.push(r);
        const last = r.cycles[r.cycles.length - 1];
        const line =
          `seed ${seed} ${method}: success ${(100 * last.evaluation.successRate).toFixed(1)}%, KL ${last.kl.toFixed(3)}, ` +
          `KL at agent states ${agentAt.get(`${seed}/${method}`)!.at(-1)!.kl.toFixed(3)}`;
        if (bar) bar.increment({ label: line });
        else log(`${line} (${((Date.now() - started) / 1000).toFixed(0)} s so far)`);
      }
    }
  } finally {
    bar?.stop();
  }
  // Per method: its final cycle on each seed, the means with t-intervals over seeds, and — when
  // SFT ran too — the paired differences to SFT seed by seed (every method starts from that
  // seed's SFT warm start, so the pairing removes the seed-to-seed swing of SFT itself).
  const finalsOf = (method: string) =>
    results
      .filter((r) => r.method === method)
      .map((r) => ({ seed: r.seed, last: r.cycles[r.cycles.length - 1], agent: agentAt.get(`${r.seed}/${method}`)!.at(-1)! }));
  type Final = ReturnType<typeof finalsOf>[number];
  const sftBySeed = new Map(finalsOf("sft").map((f) => [f.seed, f]));
  // The tests of this env: each method against SFT, on success, exact KL at held-out expert states
  // and KL at the agent's own states; Holm-corrected together.
  const metrics: [string, (f: Final) => number][] = [
    ["success", (f) => f.last.evaluation.successRate],
    ["KL at expert states", (f) => f.last.kl],
    ["KL at agent states", (f) => f.agent.kl],
  ];
  const testInput = methods
    .filter((m) => m !== "sft")
    .flatMap((method) => {
      const paired = finalsOf(method).filter((f) => sftBySeed.has(f.seed));
      const diffs = (get: (f: Final) => number) => paired.map((f) => get(f) - get(sftBySeed.get(f.seed)!));
      return paired.length ? metrics.map(([metric, get]) => ({ label: `${method} − sft: ${metric}`, method, metric, diffs: diffs(get) })) : [];
    });
  const tests = testInput.length
    ? correctedPairedTests(testInput, plan?.alpha ?? 0.05).map((t, i) => {
        const { method, metric, diffs } = testInput[i];
        return { ...t, env: family.name, method, metric, diffs };
      })
    : [];
  const rows = methods.map((method) => {
    const mine = finalsOf(method);
    const success = meanCi95(mine.map((f) => f.last.evaluation.successRate));
    const kl = meanCi95(mine.map((f) => f.last.kl));
    const reward = meanCi95(mine.map((f) => f.last.evaluation.meanReward));
    const paired = method === "sft" ? [] : mine.filter((f) => sftBySeed.has(f.seed)).map((f) => ({ ...f, sft: sftBySeed.get(f.seed)!.last }));
    const dSuccess = paired.length ? meanCi95(paired.map((f) => f.last.evaluation.successRate - f.sft.evaluation.successRate)) : null;
    const dKl = paired.length ? meanCi95(paired.map((f) => f.last.kl - f.sft.kl)) : null;
    return {
      method,
      successMean: success.mean,
      successCi95: success.ci95,
      rewardMean: reward.mean,
      klMean: kl.mean,
      klCi95: kl.ci95,
      /** Exact KL(π_E‖π) at the states the agent reaches sampling its own actions on the held-out tasks. */
      agentKlMean: meanCi95(mine.map((f) => f.agent.kl)).mean,
      agentKlCi95: meanCi95(mine.map((f) => f.agent.kl)).ci95,
      /** Share of the agent's own actions (sampled) that the expert could have taken there. */
      agentAgreementMean: meanCi95(mine.map((f) => f.agent.agreement)).mean,
      invalidRate: mine.reduce((a, f) => a + f.last.evaluation.invalidRate, 0) / mine.length,
      meanSteps: mine.reduce((a, f) => a + f.last.evaluation.meanSteps, 0) / mine.length,
      /** method − SFT on the same seed, mean and 95% t-interval over seeds; null for SFT or without it. */
      vsSft: dSuccess && dKl ? { successMean: dSuccess.mean, successCi95: dSuccess.ci95, klMean: dKl.mean, klCi95: dKl.ci95 } : null,
      perSeed: mine.map((f) => ({
        seed: f.seed,
        success: f.last.evaluation.successRate,
        reward: f.last.evaluation.meanReward,
        kl: f.last.kl,
        agentKl: f.agent.kl,
        agentAgreement: f.agent.agreement,
        agentExpertMass: f.agent.expertMass,
      })),
      /** The method's full config: β, λ, the optimisation budget per cycle. */
      config: results.find((r) => r.method === method)!.config,
      theoryContraction: results.find((r) => r.method === method)!.theoryContraction,
      /** Adam steps and examples its updates actually took, per cycle (mean over seeds). */
      updatesPerCycle: meanUpdates(results.filter((r) => r.method === method)),
    };
  });
  // Held-out KL per cycle beside the theory: log(π_k/π_E) shrinks by c = 1 − 1/β per cycle, so
  // near π_E (KL ≈ ½ rᵀF r) the KL shrinks by c² per cycle from its cycle-0 value. Next to it, the
  // KL at the agent's own states per cycle (sampled roll-outs on the held-out tasks).
  const perCycle = methods.map((method) => {
    const mine = results.filter((r) => r.method === method);
    const beta = typeof mine[0].config.beta === "number" ? mine[0].config.beta : null;
    const c = beta === null ? null : contractionFactor(beta);
    const mean = (f: (r: TextTrainResult) => number) => mine.reduce((a, r) => a + f(r), 0) / mine.length;
    return {
      method,
      beta,
      contraction: c,
      cycles: mine[0].cycles.map((cy, k) => ({
        cycle: cy.cycle,
        heldOutKl: mean((r) => r.cycles[k].kl),
        theoryKl: c === null ? null : mean((r) => r.cycles[0].kl) * c ** (2 * k),
        agentKl: mean((r) => agentAt.get(`${r.seed}/${method}`)![k].kl),
        agentAgreement: mean((r) => agentAt.get(`${r.seed}/${method}`)![k].agreement),
      })),
    };
  });
  const summary = {
    env: family.name,
    seeds,
    firstSeed,
    quick: Boolean(values.quick),
    plan: plan ? { file: planFile, ...plan } : null,
    ...(hf ? { model: hf } : {}),
    ...backendJson(backend),
    seconds: (Date.now() - started) / 1000,
    budget: base,
    overlap,
    rows,
    perCycle,
    tests,
  };
  if (values.out) {
    const perCycle = (field: "success" | "kl") =>
      methods.flatMap((method) => {
        const mine = results.filter((r) => r.method === method);
        return mine[0].cycles.map((c, k) => ({
          method,
          cycle: c.cycle,
          value: mine.reduce((a, r) => a + (field === "kl" ? r.cycles[k].kl : r.cycles[k].evaluation.successRate), 0) / mine.length,
        }));
      });
    const svgS = await renderSvg(
      methodComparisonSpec(perCycle("success"), { title: `Held-out success per cycle — ${values.env}, mean of ${seeds} seeds`, yTitle: "success rate" }),
    );
    const svgK = await renderSvg(methodComparisonSpec(perCycle("kl"), { title: "KL(π_E‖π) at held-out expert states", yTitle: "KL (nats)", log: true }));
    const escape = (text: string) => text.replace(/[<&>]/g, (c) => `&#${c.charCodeAt(0)};`);
    const modelNote = hf ? `Pretrained model ${escape(hf.model)} (${hf.lora ? "LoRA" : "full fine-tuning"}); ` : "";
    const fmtCi = (c: [number, number]) => `[${c[0].toFixed(3)}, ${c[1].toFixed(3)}]`;
    const fmtSigned = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(3)}`;
    const table = aq
      .from(
        rows.map((r) => ({
          method: r.method,
          success: r.successMean.toFixed(3),
          "success 95% CI": fmtCi(r.successCi95),
          reward: r.rewardMean.toFixed(3),
          KL: r.klMean.toFixed(3),
          "KL 95% CI": fmtCi(r.klCi95),
          "Δ success vs SFT (paired)": r.vsSft ? `${fmtSigned(r.vsSft.successMean)} ${fmtCi(r.vsSft.successCi95)}` : "–",
          "Δ KL vs SFT (paired)": r.vsSft ? `${fmtSigned(r.vsSft.klMean)} ${fmtCi(r.vsSft.klCi95)}` : "–",
          "invalid actions": r.invalidRate.toFixed(3),
          β: "beta" in r.config ? String(r.config.beta) : "–",
          λ: "nllWeight" in r.config ? String(r.config.nllWeight) : "–",
          "Adam steps × examples per cycle": `${r.updatesPerCycle.steps} × ${r.updatesPerCycle.steps ? r.updatesPerCycle.examples / r.updatesPerCycle.steps : 0}`,
          "KL at agent states": r.agentKlMean.toFixed(3),
          "agreement at agent states": r.agentAgreementMean.toFixed(3),
        })),
      )
      .toHTML();
    const testTable = tests.length
      ? aq
          .from(
            tests.map((t) => ({
              test: t.label,
              seeds: t.n,
              "Δ mean": fmtSigned(t.mean),
              [`simultaneous ${(100 * (1 - t.family.alpha / t.family.m)).toFixed(2)}% interval`]: fmtCi(t.ciSimultaneous),
              p: Number.isNaN(t.p) ? "–" : t.p.toFixed(4),
              "p (Holm)": Number.isNaN(t.pHolm) ? "–" : t.pHolm.toFixed(4),
              [`significant at α = ${t.family.alpha}`]: t.significant ? "yes" : "no",
            })),
          )
          .toHTML()
      : "";
    const overlapText = overlap
      .map(
        (o) =>
          `seed ${o.seed}: ${o.repeatedTasks} of ${o.testTasks} held-out tasks repeat a training task, ` +
          `${o.sharedPairs} of ${o.testPairs} held-out expert (state, action) pairs occur in training`,
      )
      .join("; ");
    await writeFolderAtomic(values.out as string, (dir) => {
      writeFileAtomic(path.join(dir, "compare.json"), JSON.stringify(summary, null, 2) + "\n");
      writeFileAtomic(path.join(dir, "success.svg"), svgS);
      writeFileAtomic(path.join(dir, "kl.svg"), svgK);
      writeFileAtomic(
        path.join(dir, "index.html"),
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>stepagent compare — ${values.env}</title><style>body{font-family:"DejaVu Sans",sans-serif;max-width:1000px;margin:2em auto}td,th{padding:3px 8px;border-bottom:1px solid #ddd}</style></head><body>
<h1>Methods compared on ${values.env}</h1><p>${modelNote}${seeds} seeds, ${plan ? `budget of ${planFile}` : values.quick ? "quick budget" : "full budget"}, backend ${escape(backendLabel(backend))}; means with 95% t-intervals over seeds; Δ vs SFT: the method minus SFT on the same seed (same warm start), mean and 95% t-interval.</p>
${table}<h2>Paired tests against SFT, Holm-corrected over this page's tests</h2>${testTable}<p>Split overlap — ${overlapText}.</p>
<figure>${svgS}</figure><figure>${svgK}</figure></body></html>\n`,
      );
    });
    log(`wrote ${path.resolve(values.out as string)}/index.html`);
  }
  if (values.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else
    for (const r of rows)
      process.stdout.write(
        `${r.method.padEnd(20)} success ${r.successMean.toFixed(3)} ${JSON.stringify(r.successCi95.map((x) => +x.toFixed(3)))}  KL ${r.klMean.toFixed(3)}\n`,
      );
  return 0;
}
