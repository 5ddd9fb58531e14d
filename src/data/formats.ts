/**
 * Trajectory formats: ETO/ShareGPT conversations, ETO evaluation outputs, role/content chat
 * (AgentGym, OpenAI), raw ReAct transcripts — to and from stepagent's `Trajectory<string, string>`.
 *
 * A conversation is read as: leading system turns and (user, assistant) exchanges whose reply has
 * no `Action:` line (the instruction, "OK", in-context examples) form the *preamble*; then each
 * user turn is an observation and the assistant turn after it a ReAct step; a trailing user turn
 * is the final observation. Every malformed record raises a `DataError` naming the record and turn.
 */
import type { ChatTurn, Step, Trajectory } from "../core/types";
import { detectInstruction, formatReActTurn, parseReActTurn } from "./react";

export type TextTrajectory = Trajectory<string, string>;

export const FORMATS = ["sharegpt", "eto-eval", "chat", "react"] as const;
export type Format = (typeof FORMATS)[number];

/** A malformed record: where (file, record index, turn index) and what was expected. */
export class DataError extends Error {
  constructor(
    readonly file: string,
    readonly record: number | null,
    readonly turn: number | null,
    readonly reason: string,
  ) {
    super(`${file}${record !== null ? `: record ${record}` : ""}${turn !== null ? `, turn ${turn}` : ""}: ${reason}`);
    this.name = "DataError";
  }
}

type Fail = (reason: string, turn?: number | null) => never;

const SPEAKERS: Record<string, ChatTurn["role"]> = { human: "user", user: "user", gpt: "assistant", assistant: "assistant", system: "system" };

/** Which format a parsed JSON record is in (null when none fits). */
export function detectRecordFormat(record: unknown): Format | null {
  if (Array.isArray(record)) return record.length > 0 && isObj(record[0]) && "role" in record[0] ? "chat" : null;
  if (!isObj(record)) return null;
  if (Array.isArray(record.conversations)) {
    const first = record.conversations[0];
    if (isObj(record.meta)) return "eto-eval";
    if (isObj(first) && "role" in first) return "chat";
    return "sharegpt";
  }
  if (Array.isArray(record.messages)) return "chat";
  return null;
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Reads one JSON record of the given format. */
export function recordToTrajectory(record: unknown, format: Exclude<Format, "react">, fail: Fail): TextTrajectory {
  let turns: unknown[];
  let id: string | undefined;
  let reward: number | undefined;
  let success: boolean | undefined;
  if (format === "chat" && Array.isArray(record)) {
    turns = record;
  } else {
    if (!isObj(record)) fail(`expected an object, got ${describe(record)}`);
    const rec = record as Record<string, unknown>;
    const list = format === "chat" ? rec.messages ?? rec.conversations : rec.conversations;
    if (!Array.isArray(list)) fail(`expected "${format === "chat" ? "messages" : "conversations"}" to be a list of turns, got ${describe(list)}`);
    turns = list as unknown[];
    if (rec.id !== undefined) id = String(rec.id);
    const meta = isObj(rec.meta) ? rec.meta : rec;
    if (meta.id !== undefined && id === undefined) id = String(meta.id);
    if (meta.reward !== undefined) {
      if (typeof meta.reward !== "number" || !Number.isFinite(meta.reward)) fail(`"reward" must be a finite number, got ${describe(meta.reward)}`);
      reward = meta.reward as number;
    }
    if (meta.success !== undefined) success = Boolean(meta.success);
  }
  const chat = turns.map((t, i): ChatTurn => {
    if (!isObj(t)) fail(`expected a turn object, got ${describe(t)}`, i);
    const who = (format === "chat" ? t.role : t.from) ?? t.role ?? t.from;
    const text = format === "chat" ? t.content : t.value ?? t.content;
    const role = typeof who === "string" ? SPEAKERS[who] : undefined;
    if (!role) fail(`unknown speaker ${describe(who)} (expected ${format === "chat" ? "user, assistant or system" : "human, gpt or system"})`, i);
    if (typeof text !== "string") fail(`"${format === "chat" ? "content" : "value"}" must be a string, got ${describe(text)}`, i);
    return { role: role!, content: (text as string).replace(/\r\n?/g, "\n") };
  });
  const traj = chatToTrajectory(chat, fail);
  if (id !== undefined) traj.id = id;
  if (reward !== undefined) traj.reward = reward;
  if (success !== undefined) traj.success = success;
  return traj;
}

/** The preamble/observation/step reading of a chat transcript. */
export function chatToTrajectory(chat: ChatTurn[], fail: Fail): TextTrajectory {
  if (chat.length === 0) fail("empty conversation (no turns)");
  const preamble: ChatTurn[] = [];
  let i = 0;
  while (i < chat.length && chat[i].role === "system") preamble.push(chat[i++]);
  // (user, assistant-without-Action) exchanges before the first step are instructions.
  while (i + 1 < chat.length && chat[i].role === "user" && chat[i + 1].role === "assistant" && parseReActTurn(chat[i + 1].content) === null) {
    preamble.push(chat[i], chat[i + 1]);
    i += 2;
  }
  const steps: Step<string, string>[] = [];
  let finalObservation: string | undefined;
  while (i < chat.length) {
    const obs = chat[i];
    if (obs.role !== "user") fail(`expected a ${"user/human"} turn (an observation), got a${obs.role === "assistant" ? "n assistant" : " system"} turn`, i);
    if (i + 1 === chat.length) {
      finalObservation = obs.content;
      break;
    }
    const reply = chat[i + 1];
    if (reply.role !== "assistant") fail(`expected an assistant/gpt turn after the observation, got a ${reply.role} turn`, i + 1);
    const turn = parseReActTurn(reply.content);
    if (!turn) fail(`expected an "Action:" line in the assistant turn, got ${JSON.stringify(reply.content.slice(0, 80))}`, i + 1);
    steps.push({ observation: obs.content, ...(turn!.thought !== undefined ? { thought: turn!.thought } : {}), action: turn!.action });
    i += 2;
  }
  if (steps.length === 0) fail("no steps: the conversation has no assistant turn with an \"Action:\" line");
  const traj: TextTrajectory = { steps };
  const instruction = detectInstruction(steps[0].observation) ?? preamble.map((p) => detectInstruction(p.content)).find((x) => x !== undefined);
  if (instruction !== undefined) traj.instruction = instruction;
  if (preamble.length) traj.preamble = preamble;
  if (finalObservation !== undefined) traj.finalObservation = finalObservation;
  return traj;
}

/** The chat transcript of a trajectory: preamble, then observation/ReAct turns. */
export function trajectoryToChat(t: TextTrajectory): ChatTurn[] {
  const chat: ChatTurn[] = [...(t.preamble ?? [])];
  for (const s of t.steps) {
    chat.push({ role: "user", content: s.observation });
    chat.push({ role: "assistant", content: formatReActTurn({ thought: s.thought, action: s.action }) });
  }
  if (t.finalObservation !== undefined) chat.push({ role: "user", content: t.finalObservation });
  return chat;
}

const FROM: Record<ChatTurn["role"], string> = { user: "human", assistant: "gpt", system: "system" };

/** One JSON record of `format` for a trajectory. */
export function trajectoryToRecord(t: TextTrajectory, format: Exclude<Format, "react">, index: number): unknown {
  const chat = trajectoryToChat(t);
  const id = t.id ?? String(index);
  switch (format) {
    case "sharegpt":
      return { id, conversations: chat.map((c) => ({ from: FROM[c.role], value: c.content })), ...(t.reward !== undefined ? { reward: t.reward } : {}) };
    case "eto-eval":
      return { meta: { id, steps: t.steps.length, ...(t.reward !== undefined ? { reward: t.reward } : {}), ...(t.success !== undefined ? { success: t.success } : {}) }, conversations: chat.map((c) => ({ from: FROM[c.role], value: c.content })) };
    case "chat":
      return { id, messages: chat, ...(t.reward !== undefined ? { reward: t.reward } : {}) };
  }
}

/**
 * Raw ReAct transcript text: labelled lines `Observation:`, `Thought:`/`Think:`, `Action:` (a
 * label's text runs until the next label line), optional `Reward:`; trajectories separated by a
 * line `---`. Text before the first `Observation:` line is the preamble (instruction). The text
 * form has no roles, so a multi-turn preamble becomes one block: a lossy view for reading.
 */
export function parseReActTranscripts(text: string, file: string, onError: (e: DataError) => void): TextTrajectory[] {
  const blocks = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n").split(/^---\s*$/m);
  const out: TextTrajectory[] = [];
  blocks.forEach((block, b) => {
    if (block.trim() === "") return;
    try {
      out.push(parseReActBlock(block, (reason, turn) => {
        throw new DataError(file, b, turn ?? null, reason);
      }));
    } catch (e) {
      if (e instanceof DataError) onError(e);
      else throw e;
    }
  });
  return out;
}

const LABEL = /^(Observation|Thought|Think|Action|Reward)\s*:\s?(.*)$/i;

function parseReActBlock(block: string, fail: Fail): TextTrajectory {
  const fields: { label: string; text: string; line: number }[] = [];
  const pre: string[] = [];
  // Everything before the first "Observation:" line is the preamble (it may quote the
  // Thought/Action format itself, as prompts do).
  block.split("\n").forEach((line, n) => {
    const m = LABEL.exec(line);
    if (m && (fields.length || m[1].toLowerCase() === "observation")) fields.push({ label: m[1].toLowerCase() === "think" ? "thought" : m[1].toLowerCase(), text: m[2], line: n });
    else if (fields.length) fields[fields.length - 1].text += "\n" + line;
    else pre.push(line);
  });
  const steps: Step<string, string>[] = [];
  let obs: string | undefined;
  let thought: string | undefined;
  let reward: number | undefined;
  let finalObservation: string | undefined;
  for (const f of fields) {
    const text = f.text.replace(/\n+$/, "");
    if (f.label === "observation") {
      if (obs !== undefined) fail(`two observations in a row without an "Action:" line between them`, f.line);
      obs = text;
    } else if (f.label === "thought") {
      thought = text.trim();
    } else if (f.label === "action") {
      if (obs === undefined) fail(`"Action:" without an "Observation:" before it`, f.line);
      steps.push({ observation: obs!, ...(thought !== undefined ? { thought } : {}), action: text.trim() });
      obs = undefined;
      thought = undefined;
    } else {
      const r = Number(text.trim());
      if (!Number.isFinite(r)) fail(`"Reward:" must be a number, got ${JSON.stringify(text.trim())}`, f.line);
      reward = r;
    }
  }
  if (obs !== undefined) finalObservation = obs;
  if (thought !== undefined) fail(`a thought at the end with no "Action:" after it`);
  if (steps.length === 0) fail(`no "Action:" line in this transcript`);
  const traj: TextTrajectory = { steps };
  const preText = pre.join("\n").trim();
  if (preText) traj.preamble = [{ role: "user", content: preText }];
  const instruction = detectInstruction(preText) ?? detectInstruction(steps[0].observation);
  if (instruction) traj.instruction = instruction;
  if (finalObservation !== undefined) traj.finalObservation = finalObservation;
  if (reward !== undefined) traj.reward = reward;
  return traj;
}

export function trajectoryToReAct(t: TextTrajectory): string {
  const lines: string[] = [];
  for (const p of t.preamble ?? []) lines.push(p.content);
  // Observations that already carry their label (ETO's "Observation:\n…") are not labelled twice.
  const obs = (o: string) => (/^\s*Observation\s*:/i.test(o) ? o.trim() : `Observation: ${o}`);
  for (const s of t.steps) {
    lines.push(obs(s.observation));
    if (s.thought !== undefined) lines.push(`Thought: ${s.thought}`);
    lines.push(`Action: ${s.action}`);
  }
  if (t.finalObservation !== undefined) lines.push(obs(t.finalObservation));
  if (t.reward !== undefined) lines.push(`Reward: ${t.reward}`);
  return lines.join("\n");
}

function describe(x: unknown): string {
  if (x === undefined) return "nothing";
  if (x === null) return "null";
  if (Array.isArray(x)) return "a list";
  if (typeof x === "object") return "an object";
  if (typeof x === "string") return `the string ${JSON.stringify(x.length > 40 ? x.slice(0, 40) + "…" : x)}`;
  return `${typeof x} ${String(x)}`;
}
