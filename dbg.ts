import { initBackend } from "./src/backend";
import { readAll } from "./src/data/io";
import { Tokenizer } from "./src/policies/tokenizer";
import { TransformerPolicy } from "./src/policies/transformer";
import { expertSteps, trainSft } from "./src/policies/text_sft";
import { Rng } from "./src/core/rng";
import { TEXT_ENVS, splitTasks } from "./src/envs/text";
import { evaluateText } from "./src/stepagent/text/evaluate";
import { inspectText } from "./src/stepagent/text/inspect";
import { reflectImplicitText } from "./src/stepagent/text/implicit";
(async () => {
  await initBackend();
  const env = process.argv[2] ?? "household";
  const family = (TEXT_ENVS as any)[env];
  const { trajectories } = await readAll(`data/${env}-expert-train.json`);
  const data = expertSteps(trajectories);
  const tok = Tokenizer.fit(data.flatMap((d) => [d.state, d.action]), { maxWords: 400 });
  const policy = new TransformerPolicy(tok, { seed: 1, context: 96 });
  let t0 = performance.now();
  const { losses } = trainSft(policy, data, { steps: 300, batchSize: 32, seed: 0, learningRate: 3e-3 });
  console.log(env, "vocab", tok.size, "SFT 300 steps", ((performance.now() - t0) / 1000).toFixed(1), "s loss", losses[0].toFixed(2), "→", losses[299].toFixed(3));
  const { test } = splitTasks(family, 0, 0, 30);
  t0 = performance.now();
  console.log("eval SFT", JSON.stringify(evaluateText(family, test, policy, { seed: 0 })), ((performance.now() - t0) / 1000).toFixed(1), "s");
  for (let k = 1; k <= 2; k++) {
    t0 = performance.now();
    const ins = inspectText(policy, data, { samplesPerStep: 2, temperature: 1, rng: new Rng(3 + k) });
    const r = reflectImplicitText(policy, ins.pairs, { beta: 0.1, nllWeight: 1, steps: 60, batchSize: 16, seed: k });
    console.log("cycle", k, "pairs", ins.pairs.length, "match", ins.matchRate.toFixed(3), "dpo", r.losses[0]?.toFixed(3), "→", r.losses[r.losses.length - 1]?.toFixed(3), ((performance.now() - t0) / 1000).toFixed(1), "s", JSON.stringify(evaluateText(family, test, policy, { seed: 0 })));
  }
})();
