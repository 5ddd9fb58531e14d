import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HfTokenizer } from "../../src/hf/tokenizer";
import { CHAT_TEMPLATE, writeFixtureModel } from "../../src/hf/fixture";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hf-tok-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
const dir = path.join(tmp, "m");
writeFixtureModel(dir, { kind: "llama" });

// Ids worked out by hand from the fixture's vocabulary: bytes 33–126 are ids 0–93 (id = byte − 33),
// 161–172 are 94–105, 174–255 are 106–187, then bytes 0–32, 127–160 and 173 follow (space, byte
// 32, is 188 + 32 = 220 "Ġ"; newline is 188 + 10 = 198 "Ċ"); merge i is id 256 + i
// (he, ll, Ġt, Ġthe, hell, hello); the specials <|endoftext|>, <|im_start|>, <|im_end|> are 262–264.
const CASES: [string, number[]][] = [
  // hello: h e l l o → he l l o → he ll o → hell o → hello; " the": Ġ t h e → Ġ t he → Ġt he → Ġthe
  ["hello the", [261, 259]],
  // " world" has no merges: Ġ w o r l d
  ["hello world", [261, 220, 119 - 33, 111 - 33, 114 - 33, 108 - 33, 100 - 33]],
  ["hello\n", [261, 198]],
  // special tokens in the text are single ids; u s e r are bytes 117 115 101 114
  ["<|im_start|>user<|im_end|>", [263, 84, 82, 68, 81, 264]],
  // é is UTF-8 C3 A9: 0xC3 = 195 → 106 + (195 − 174) = 127; 0xA9 = 169 → 94 + (169 − 161) = 102
  ["é", [127, 102]],
];

test("tokenizer.json (byte-level BPE) encodes fixture strings to hand-computed ids and decodes them back", () => {
  const tok = HfTokenizer.load(dir);
  for (const [text, ids] of CASES) {
    assert.deepEqual(tok.encode(text), ids, text);
    assert.equal(tok.decode(ids), text);
  }
  assert.deepEqual(tok.tokens("hello world"), ["hello", "Ġ", "w", "o", "r", "l", "d"]);
  assert.equal(tok.eosId, 264);
  assert.equal(tok.bosId, 262);
  assert.equal(tok.size, 265);
  assert.equal(tok.decode([261, 264], { skipSpecial: true }), "hello");
});

test("the chat template renders a fixture conversation to the exact expected string", () => {
  const tok = HfTokenizer.load(dir);
  const messages = [
    { role: "system", content: "You act." },
    { role: "user", content: "go north" },
    { role: "assistant", content: "ok" },
    { role: "user", content: "look" },
  ];
  assert.equal(
    tok.applyChatTemplate(messages, { addGenerationPrompt: true }),
    "<|im_start|>system\nYou act.<|im_end|>\n<|im_start|>user\ngo north<|im_end|>\n" +
      "<|im_start|>assistant\nok<|im_end|>\n<|im_start|>user\nlook<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.equal(tok.applyChatTemplate(messages.slice(1, 2)), "<|im_start|>user\ngo north<|im_end|>\n");
  // A template written to chat_template.jinja (newer exports) takes precedence over the config's.
  const other = path.join(tmp, "jinja");
  writeFixtureModel(other, { kind: "gpt2" });
  fs.writeFileSync(path.join(other, "chat_template.jinja"), "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}");
  assert.equal(HfTokenizer.load(other).applyChatTemplate(messages.slice(1, 3)), "<|endoftext|>[user] go north<|im_end|>[assistant] ok<|im_end|>");
  assert.ok(CHAT_TEMPLATE.includes("add_generation_prompt"));
});

test("a broken tokenizer folder fails with one line naming the file", () => {
  const bad = path.join(tmp, "bad");
  writeFixtureModel(bad, { kind: "gpt2" });
  fs.rmSync(path.join(bad, "tokenizer.json"));
  assert.throws(
    () => HfTokenizer.load(bad),
    (e: Error) => e.message.startsWith(path.join(bad, "tokenizer.json")) && e.message.includes("missing") && !e.message.includes("\n"),
  );
  writeFixtureModel(bad, { kind: "gpt2" });
  fs.writeFileSync(path.join(bad, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|nope|>" }));
  assert.throws(() => HfTokenizer.load(bad), /eos_token: "<\|nope\|>" is not in the vocabulary/);
});
