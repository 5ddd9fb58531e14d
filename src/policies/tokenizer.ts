/**
 * stepagent's own tokenizer for the text environments: words seen in training keep one token
 * each (with their leading space, GPT-style), anything else is spelled out in single characters,
 * so every string round-trips exactly and a policy can copy unseen names (QA entities, product
 * ids) character by character.
 */

export const PAD = 0;
export const UNK = 1;
export const BOS = 2;
export const SEP = 3;
export const EOS = 4;
const SPECIALS = ["<pad>", "<unk>", "<bos>", "<sep>", "<eos>"];

// WebShop's page separator "[SEP]" is one piece (a word once seen in training), not five.
const PIECES = /\n| ?\[SEP\]| ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]| +|\s/g;

export class Tokenizer {
  readonly vocab: string[];
  private readonly index: Map<string, number>;

  constructor(vocab: string[]) {
    if (vocab.slice(0, SPECIALS.length).join("\u0000") !== SPECIALS.join("\u0000")) throw new Error("tokenizer vocabulary must start with the special tokens");
    this.vocab = vocab;
    this.index = new Map(vocab.map((t, i) => [t, i]));
  }

  /** Words occurring at least `minCount` times in `texts` (up to `maxWords`), plus all printable ASCII characters. */
  static fit(texts: Iterable<string>, options: { maxWords?: number; minCount?: number } = {}): Tokenizer {
    const counts = new Map<string, number>();
    for (const t of texts) for (const p of t.match(PIECES) ?? []) if (p.trim().length > 1) counts.set(p, (counts.get(p) ?? 0) + 1);
    const words = [...counts.entries()]
      .filter(([, c]) => c >= (options.minCount ?? 2))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, options.maxWords ?? 2000)
      .map(([w]) => w);
    const chars: string[] = ["\n", " "];
    for (let c = 33; c < 127; c++) chars.push(String.fromCharCode(c), " " + String.fromCharCode(c));
    return new Tokenizer([...SPECIALS, ...chars, ...words.filter((w) => !chars.includes(w))]);
  }

  get size(): number {
    return this.vocab.length;
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const piece of text.match(PIECES) ?? []) {
      const id = this.index.get(piece);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      for (const ch of Array.from(piece)) ids.push(this.index.get(ch) ?? UNK);
    }
    return ids;
  }

  /**
   * `encode` with the text of each token: the ids equal `encode(text)` and the texts join back to
   * `text` exactly (an <unk> keeps the character it stands for). For per-token reports, such as
   * the served policy's log-probs with character offsets.
   */
  pieces(text: string): { id: number; text: string }[] {
    const out: { id: number; text: string }[] = [];
    for (const piece of text.match(PIECES) ?? []) {
      const id = this.index.get(piece);
      if (id !== undefined) out.push({ id, text: piece });
      else for (const ch of Array.from(piece)) out.push({ id: this.index.get(ch) ?? UNK, text: ch });
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    let s = "";
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === EOS) break;
      if (id < SPECIALS.length) continue;
      s += this.vocab[id] ?? "\uFFFD";
    }
    return s;
  }
}
