import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend, tf } from "../../src/backend";
import { HfCausalLM } from "../../src/hf/model";
import { HfTokenizer } from "../../src/hf/tokenizer";
import { Lora } from "../../src/hf/lora";
import { serveHfModel } from "../../src/hf/serve";
import { writeFixtureModel } from "../../src/hf/fixture";
import { referenceLogits } from "./reference";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hf-serve-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
const dir = path.join(tmp, "model");
writeFixtureModel(dir, { kind: "qwen2", seed: 41, heads: 4, kvHeads: 2, config: { max_position_embeddings: 128 } });
const adapter = path.join(tmp, "adapter");

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, any> }> {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, any> };
}

test("served model with a LoRA adapter: echoed prompt log-probs match PyTorch's base + (alpha/r)·B·A; chat replies repeat with a seed", async () => {
  await initBackend();
  // An adapter with non-zero B, saved in PEFT's format and loaded back as the server would.
  {
    const m = HfCausalLM.load(dir);
    const l = Lora.attach(m, { seed: 5 });
    for (const mod of l.modules.values()) mod.B.assign(tf.randomNormal(mod.B.shape, 0, 0.2, "float32", 9));
    await l.save(adapter);
    m.dispose();
  }
  const model = HfCausalLM.load(dir);
  Lora.load(model, adapter);
  const tokenizer = HfTokenizer.load(dir);
  const server = await serveHfModel(model, tokenizer, { port: 0, model: "fixture" });
  try {
    const prompt = "hello world\nAction: hello the<|im_end|>";
    const r = await post(`${server.url}/completions`, { model: "fixture", prompt, echo: true, logprobs: 2, max_tokens: 0 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const lp = r.json.choices[0].logprobs;
    const ids = tokenizer.encode(prompt);
    assert.equal(lp.tokens.join(""), prompt, "the echoed tokens spell the prompt");
    assert.equal(lp.tokens.length, ids.length);
    assert.equal(lp.token_logprobs[0], null);
    assert.deepEqual(lp.text_offset.slice(0, 3), [0, 5, 6]); // "hello", " ", "w"
    const ref = referenceLogits(dir, [ids], adapter)[0];
    let worst = 0;
    for (let t = 1; t < ids.length; t++) {
      const row = ref[t - 1];
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
      worst = Math.max(worst, Math.abs(lp.token_logprobs[t] - (row[ids[t]] - lse)));
      // Two top tokens can decode to the same text (e.g. lone UTF-8 bytes), which a text-keyed map merges.
      const n = Object.keys(lp.top_logprobs[t]).length;
      assert.ok(n === 1 || n === 2, `top_logprobs ${n}`);
    }
    assert.ok(worst <= 1e-4, `echo log-probs vs torch: max |Δ| ${worst}`);
    console.log(`# served echo log-probs (qwen2 + LoRA) vs torch: max |Δ| ${worst.toExponential(2)}`);

    const ask = {
      model: "fixture",
      messages: [{ role: "user", content: "go north" }],
      max_tokens: 8,
      temperature: 1,
      seed: 3,
      logprobs: true,
      top_logprobs: 1,
    };
    const a = await post(`${server.url}/chat/completions`, ask);
    const b = await post(`${server.url}/chat/completions`, ask);
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.deepEqual(a.json.choices, b.json.choices);
    const c = a.json.choices[0];
    assert.ok(["stop", "length"].includes(c.finish_reason));
    assert.equal(typeof c.message.content, "string");
    assert.ok(c.logprobs.content.every((t: { logprob: number; top_logprobs: unknown[] }) => t.logprob <= 0 && t.top_logprobs.length === 1));
    // The prompt was the chat template's rendering of the conversation.
    const rendered = tokenizer.applyChatTemplate([{ role: "user", content: "go north" }], { addGenerationPrompt: true });
    assert.equal(a.json.usage.prompt_tokens, tokenizer.encode(rendered).length);

    const wrong = await post(`${server.url}/completions`, { model: "other", prompt: "x", max_tokens: 0 });
    assert.equal(wrong.status, 404);
    const long = await post(`${server.url}/completions`, { prompt: "hello ".repeat(200), max_tokens: 0, echo: true, logprobs: 0 });
    assert.equal(long.status, 400);
    assert.match(long.json.error.message, /this model has 128 positions/);
  } finally {
    await server.close();
    model.dispose();
  }
});

test("stepagent serve --model DIR --adapter DIR --served-model-name NAME; bad combinations are one line", async () => {
  const BIN = path.resolve(__dirname, "../../dist/cli/main.js");
  const child = spawn(process.execPath, [BIN, "serve", "--model", dir, "--adapter", adapter, "--served-model-name", "mine", "--port", "0", "--quiet"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        const m = /stepagent serve: mine at (\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once("exit", (code) => reject(new Error(`serve exited ${code}`)));
    });
    const models = (await (await fetch(`${url}/models`)).json()) as { data: { id: string; max_model_len: number }[] };
    assert.equal(models.data[0].id, "mine");
    assert.equal(models.data[0].max_model_len, 128);
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
  const bad = (args: string[], expected: RegExp) => {
    const r = spawnSync(process.execPath, [BIN, "serve", ...args], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr.split("\n")[0], expected);
  };
  bad(["--model", path.join(tmp, "nope")], /--model .*nope: no such folder/);
  bad(["--checkpoint", "x.json", "--adapter", adapter], /--adapter goes with --model DIR/);
  bad(["--checkpoint", "x.json", "--model", "a", "--served-model-name", "b"], /give only --served-model-name/);
});
