import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend, tf } from "../../src/backend";
import { HfCausalLM } from "../../src/hf/model";
import { encodeSafetensors, readHeader, readTensor, toBf16Bits, toF16Bits } from "../../src/hf/safetensors";
import { fixtureConfig, fixtureWeights, writeFixtureModel } from "../../src/hf/fixture";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hf-err-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** A fresh fixture folder, changed by `spoil`; loading must fail with one line matching `expected`, allocating nothing. */
async function expectLoadError(spoil: (dir: string) => void, expected: RegExp, kind: "gpt2" | "llama" = "llama"): Promise<void> {
  await initBackend();
  const dir = path.join(tmp, `m${++n}`);
  writeFixtureModel(dir, { kind, seed: n });
  spoil(dir);
  const before = tf.memory().numTensors;
  assert.throws(
    () => HfCausalLM.load(dir),
    (e: Error) => {
      assert.match(e.message, expected);
      assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
      return true;
    },
  );
  assert.equal(tf.memory().numTensors, before, "nothing loaded half-way");
}

const weightsFile = (dir: string) => path.join(dir, "model.safetensors");

function rewrite(
  dir: string,
  kind: "gpt2" | "llama",
  change: (t: { name: string; shape: number[]; data: Float32Array; dtype?: "F32" | "F16" | "BF16" }[]) => typeof t,
) {
  const t = [...fixtureWeights(fixtureConfig({ kind }), 0)].map(([name, w]) => ({ name, shape: w.shape, data: w.data }));
  fs.writeFileSync(weightsFile(dir), encodeSafetensors(change(t)));
}

test("unknown architecture → the config key and value", async () => {
  await expectLoadError((d) => {
    const c = JSON.parse(fs.readFileSync(path.join(d, "config.json"), "utf8"));
    fs.writeFileSync(path.join(d, "config.json"), JSON.stringify({ ...c, model_type: "falcon" }));
  }, /config\.json: model_type: unsupported architecture "falcon"/);
});

test("missing config.json, missing weights", async () => {
  await expectLoadError((d) => fs.rmSync(path.join(d, "config.json")), /no config\.json/);
  await expectLoadError((d) => fs.rmSync(weightsFile(d)), /no model\.safetensors or model\.safetensors\.index\.json/);
});

test("missing tensor → file and tensor name", async () => {
  await expectLoadError(
    (d) => rewrite(d, "llama", (t) => t.filter((x) => x.name !== "model.layers.1.mlp.up_proj.weight")),
    /model\.safetensors: tensor model\.layers\.1\.mlp\.up_proj\.weight: missing/,
  );
});

test("shape mismatch → file, tensor, both shapes", async () => {
  await expectLoadError(
    (d) => rewrite(d, "gpt2", (t) => t.map((x) => (x.name === "transformer.h.0.attn.c_attn.weight" ? { ...x, shape: [48, 16], data: x.data } : x))),
    /tensor transformer\.h\.0\.attn\.c_attn\.weight: shape \[48,16\] does not match config\.json, which implies \[16,48\]/,
    "gpt2",
  );
});

test("unsupported dtype → file, tensor, dtype", async () => {
  await expectLoadError((d) => {
    const buf = fs.readFileSync(weightsFile(d));
    const len = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + len).toString());
    // Same byte size, another dtype: I32 instead of F32.
    header["model.norm.weight"].dtype = "I32";
    let json = JSON.stringify(header);
    json += " ".repeat(Math.max(0, len - json.length));
    assert.equal(json.length, len);
    fs.writeFileSync(weightsFile(d), Buffer.concat([buf.subarray(0, 8), Buffer.from(json), buf.subarray(8 + len)]));
  }, /tensor model\.norm\.weight: dtype I32 is not supported \(F32, F16 and BF16 are\)/);
});

test("truncated file, truncated shard, unexpected tensor", async () => {
  await expectLoadError((d) => {
    const buf = fs.readFileSync(weightsFile(d));
    fs.writeFileSync(weightsFile(d), buf.subarray(0, buf.length - 100));
  }, /model\.safetensors: tensor [\w.]+: truncated: its data ends at byte \d+ of the data section, which has \d+ bytes/);
  await expectLoadError((d) => fs.writeFileSync(weightsFile(d), Buffer.from([1, 2, 3])), /truncated: 3 bytes/);
  await expectLoadError((d) => {
    fs.rmSync(weightsFile(d));
    writeFixtureModel(d, { kind: "llama", shards: 3 });
    const shard = path.join(d, "model-00002-of-00003.safetensors");
    fs.writeFileSync(shard, fs.readFileSync(shard).subarray(0, 40));
  }, /model-00002-of-00003\.safetensors: truncated: header says \d+ bytes of JSON/);
  await expectLoadError(
    (d) => rewrite(d, "llama", (t) => [...t, { name: "model.layers.0.mlp.extra.weight", shape: [2], data: new Float32Array(2) }]),
    /tensor model\.layers\.0\.mlp\.extra\.weight: not part of a llama model/,
  );
});

test("safetensors round trip: F32 exact, BF16 and F16 rounded to nearest even", () => {
  const file = path.join(tmp, "rt.safetensors");
  const data = Float32Array.from([0, 1, -2.5, 1 / 3, 65504, 1e-6, -0.0001, 3.14159]);
  fs.writeFileSync(
    file,
    encodeSafetensors([
      { name: "a", shape: [2, 4], data },
      { name: "b", shape: [8], data, dtype: "BF16" },
      { name: "c", shape: [8], data, dtype: "F16" },
    ]),
  );
  const h = readHeader(file);
  assert.deepEqual(Array.from(readTensor(h.tensors.get("a")!)), Array.from(data));
  // Values worked out by hand: 1/3 in bfloat16 = 0x3EAB = 0.333984375; in half = 0x3555 = 0.33325195.
  assert.equal(toBf16Bits(1 / 3), 0x3eab);
  assert.equal(toF16Bits(1 / 3), 0x3555);
  const b = readTensor(h.tensors.get("b")!);
  const c = readTensor(h.tensors.get("c")!);
  assert.equal(b[3], 0.333984375);
  assert.equal(c[3], 0.333251953125);
  assert.equal(c[4], 65504); // largest half
  assert.ok(Math.abs(c[5] - 1e-6) < 6e-8); // subnormal half
  for (let i = 0; i < data.length; i++) assert.ok(Math.abs(b[i] - data[i]) <= Math.abs(data[i]) / 128, `bf16 ${i}`);
});
