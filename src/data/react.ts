/**
 * ReAct turns: `Thought: …\nAction: …` (also `Think:`), as in ETO/IPR data and the ALFWorld
 * prompts. Parsing keeps the thought and the action text; formatting writes the canonical layout,
 * so canonical turns round-trip exactly.
 */

export interface ReActTurn {
  thought?: string;
  action: string;
}

const ACTION = /^\s*Action\s*:\s?/im;
const THOUGHT = /^\s*(?:Thought|Think)\s*:\s?/i;

/** Parses an assistant turn; returns null when it has no `Action:` line. */
export function parseReActTurn(text: string): ReActTurn | null {
  const m = ACTION.exec(text);
  if (!m) return null;
  const action = text.slice(m.index + m[0].length).trim();
  const before = text.slice(0, m.index).trim();
  const thought = before ? before.replace(THOUGHT, "").trim() : undefined;
  return thought !== undefined && thought !== "" ? { thought, action } : { action };
}

export function formatReActTurn(turn: ReActTurn): string {
  return turn.thought !== undefined ? `Thought: ${turn.thought}\nAction: ${turn.action}` : `Action: ${turn.action}`;
}

/** The verb of an action: `search[…]` → `search`, `go to cabinet 1` → `go`. */
export function actionVerb(action: string): string {
  const m = /^\s*([A-Za-z_][\w-]*)/.exec(action);
  return m ? m[1].toLowerCase() : "";
}

/** Normalised action text for comparing agent and expert actions (case, spaces). */
export function normaliseAction(action: string): string {
  return action.trim().replace(/\s+/g, " ").toLowerCase();
}

/**
 * The task instruction inside an observation, where the environment states one: ALFWorld's
 * "Your task is to: …", WebShop's "Instruction: [SEP] … [SEP]", HotpotQA-style "Question: …".
 */
export function detectInstruction(text: string): string | undefined {
  const patterns = [/Your task is to:\s*(.+)/i, /Instruction:\s*\[SEP\]\s*(.+?)\s*\[SEP\]/i, /^\s*Instruction:\s*(.+)$/im, /^\s*Question:\s*(.+)$/im];
  for (const p of patterns) {
    const m = p.exec(text);
    if (m) return m[1].trim();
  }
  return undefined;
}
