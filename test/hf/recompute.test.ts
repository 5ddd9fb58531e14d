/**
 * Activation recomputation (ForwardOptions.recompute): the block-by-block recomputed backward pass
 * gives the loss and gradients of the plain pass — with LoRA dropout on (the recomputed blocks must
 * draw the same masks), for LoRA adapters and for full fine-tuning, on GPT-2 and on a Llama with
 * grouped key/value heads — and leaves no tensor behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend, tf } from "../../src/backend";
import { Rng } from "../../src/core/rng";
import { HfCausalLM } from "../../src/hf/model";
import { Lora } from "../../src/hf/lora";
import { writeFixtureModel, FIXTURE_VOCAB, type FixtureKind } from "../../src/hf/fixture";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hf-recompute-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

const B = 3;
const T = 11;
const rng = new Rng(7);
const IDS = Int32Array.from({ length: B * T }, () => rng.int(FIXTURE_VOCAB));

/** Mean next-token NLL over every position of every row (the full [B, T, V] log-softmax). */
function lmLoss(model: HfCausalLM, recompute: boolean): tf.Scalar {
  const logp = tf.logSoftmax(tf.reshape(model.logits(tf.tensor2d(IDS, [B, T], "int32"), { training: true, recompute }), [B * T, -1]));
  const targets = Int32Array.from({ length: B * (T - 1) }, (_, i) => {
    const b = Math.floor(i / (T - 1));
    const t = i % (T - 1);
    return (b * T + t) * FIXTURE_VOCAB + IDS[b * T + t + 1];
  });
  return tf.neg(tf.mean(tf.gather(tf.reshape(logp, [-1]), tf.tensor1d(targets, "int32")))) as tf.Scalar;
}

async function lossAndGrads(model: HfCausalLM, vars: tf.Variable[], recompute: boolean): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const { value, grads } = tf.variableGrads(() => lmLoss(model, recompute), vars);
  const out = new Map<string, Float32Array>();
  for (const v of vars) {
    assert.ok(grads[v.name], `a gradient for ${v.name}`);
    // Keyed without the instance prefix ("lora3/…"), so two attachments compare by module.
    out.set(v.name.replace(/^[^/]*\//, ""), Float32Array.from((await grads[v.name].data()) as Float32Array));
  }
  const loss = (await value.data())[0];
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, grads: out };
}

/** max |a − b| / max |b| (b not all zero). */
function relDiff(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  assert.ok(den > 0, "a gradient that is not all zero");
  return num / den;
}

function assertSame(plain: { loss: number; grads: Map<string, Float32Array> }, again: { loss: number; grads: Map<string, Float32Array> }, what: string) {
  assert.ok(Math.abs(again.loss - plain.loss) <= 1e-5 * Math.abs(plain.loss), `${what}: loss ${again.loss} vs ${plain.loss}`);
  for (const [name, g] of plain.grads) {
    const d = relDiff(again.grads.get(name)!, g);
    assert.ok(d <= 1e-5, `${what}: gradient of ${name} differs by ${d} (relative)`);
  }
}

const KINDS: [FixtureKind, Record<string, unknown>][] = [
  ["gpt2", { layers: 3 }],
  ["llama", { layers: 3, heads: 4, kvHeads: 2 }],
];

for (const [kind, extra] of KINDS) {
  test(`${kind}: recomputed blocks give the plain pass's loss and LoRA gradients (dropout on), and free every tensor`, async () => {
    await initBackend();
    const dir = path.join(tmp, kind);
    writeFixtureModel(dir, { kind, seed: 5, ...extra });
    const model = HfCausalLM.load(dir);
    // B starts at zero, which would make every gradient of A zero: give B values first.
    const withAdapters = (recompute: boolean) => {
      const lora = Lora.attach(model, { seed: 9, dropout: 0.2, targets: kind === "gpt2" ? ["c_attn", "c_fc"] : ["q_proj", "v_proj", "down_proj"] });
      const r = new Rng(3);
      for (const m of lora.modules.values())
        tf.tidy(() =>
          m.B.assign(
            tf.tensor(
              Float32Array.from({ length: m.B.size }, () => 0.1 * r.normal()),
              m.B.shape,
            ),
          ),
        );
      return lossAndGrads(model, lora.variables(), recompute).finally(() => lora.dispose());
    };
    const plain = await withAdapters(false);
    const tensors = tf.memory().numTensors;
    const again = await withAdapters(true);
    assert.equal(tf.memory().numTensors, tensors, "no tensor left behind by the recomputed pass");
    assertSame(plain, again, "LoRA");

    // The masks matter: without dropout the loss differs, so equal numbers above mean equal masks.
    const lora = Lora.attach(model, { seed: 9, dropout: 0 });
    const noDropout = tf.tidy(() => lmLoss(model, true).dataSync()[0]);
    lora.dispose();
    assert.ok(Math.abs(noDropout - plain.loss) > 1e-4, `dropout changes the loss (${noDropout} vs ${plain.loss})`);
    model.dispose();
  });

  test(`${kind}: recomputed blocks give the plain pass's gradients of every base weight (full fine-tuning)`, async () => {
    await initBackend();
    const dir = path.join(tmp, `${kind}-full`);
    writeFixtureModel(dir, { kind, seed: 6, ...extra });
    const model = HfCausalLM.load(dir, { trainable: true });
    const plain = await lossAndGrads(model, model.trainableBase(), false);
    const again = await lossAndGrads(model, model.trainableBase(), true);
    assertSame(plain, again, "full fine-tuning");
    model.dispose();
  });
}
