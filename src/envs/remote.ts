/**
 * A client for AgentGym-style environment servers (create / reset / step / observe / close over
 * HTTP+JSON) and a collector that runs episodes on one with an async policy and returns the
 * project's trajectories.
 *
 * AgentGym's servers agree on the shape but not on the names: WebShop calls the env id `env_idx`
 * and answers a step with `state`, ALFWorld resets by `game`, SciWorld by `data_idx` and puts the
 * task in `task_description`. A `ServerFlavour` holds those names; `FLAVOURS` has presets.
 * Only the `stepagent` preset (our own `stepagent env-serve`) is exercised by the tests; the
 * webshop / alfworld / sciworld presets are written from reading AgentGym's server and client code
 * and have not been run against those servers.
 *
 * Failures are `EnvServerError`s naming the server URL, the route, the env id and the cause.
 * Idempotent calls (create, reset, observe, available actions, close) are retried with backoff on
 * connection errors, time-outs and 503; `step` never is: once the request has been sent, a lost
 * answer does not say whether the action was applied, and applying it twice would corrupt the
 * episode (a second "take apple" sees "Nothing happens."); a refused connection means the
 * server, and with it the episode's state, is gone.
 */
import type { ChatTurn, Step } from "../core/types";
import type { TextTrajectory } from "../data/formats";
import { detectInstruction } from "../data/react";
import { writeTrajectories } from "../data/io";
import { Rng } from "../core/rng";
import { exchange } from "../core/http_exchange";
import type { ExpertTurn, TextEnv, TextEnvFamily, TextTask } from "./text/common";

export type EnvId = number | string;

/** The route and field names of one kind of env server. */
export interface ServerFlavour {
  readonly name: string;
  readonly routes: {
    create: string;
    reset: string;
    step: string;
    observation: string;
    /** GET route listing the valid actions, or null where the server has none. */
    availableActions: string | null;
    /** POST route releasing an env, or null where the server has none. */
    close: string | null;
  };
  /** Field (request body) and query parameter carrying the env id. */
  readonly idField: string;
  /** Field of /create's answer holding the id; null when the answer is the bare id. */
  readonly createIdField: string | null;
  /** Field of /reset's body holding the task index. */
  readonly resetIndexField: string;
  /** Other fields /reset needs (ALFWorld: world_type). */
  readonly resetExtra: Readonly<Record<string, unknown>>;
  /**
   * Fields of /reset's answer joined by "\n" into the first observation (SciWorld: the task
   * description, then the room); empty: the first observation is read from GET observation.
   */
  readonly resetObservationFields: readonly string[];
  /** Field of /reset's answer with the task instruction, if any (else it is read off the observation). */
  readonly instructionField: string | null;
  /** Field of /reset's answer with a task id, if any. */
  readonly taskIdField: string | null;
  readonly stepObservationField: string;
  readonly stepRewardField: string;
  readonly stepDoneField: string;
  /** A finished episode whose reward reaches this succeeded (unless the server says `success`). */
  readonly successReward: number;
  /** Reads the available-actions answer into action strings. */
  readonly readActions: (answer: unknown) => string[];
}

const listOfStrings = (answer: unknown): string[] => {
  if (!Array.isArray(answer) || !answer.every((a) => typeof a === "string")) throw new Error(`expected a list of action strings, got ${brief(answer)}`);
  return answer as string[];
};

const base = {
  routes: { create: "/create", reset: "/reset", step: "/step", observation: "/observation", availableActions: "/available_actions" as string | null, close: "/close" as string | null },
  idField: "id",
  createIdField: "id" as string | null,
  resetIndexField: "data_idx",
  resetExtra: {},
  resetObservationFields: ["observation"],
  instructionField: null as string | null,
  taskIdField: null as string | null,
  stepObservationField: "observation",
  stepRewardField: "reward",
  stepDoneField: "done",
  successReward: 1,
  readActions: listOfStrings,
};

/** Presets. Only `stepagent` has been run (against our own server, on loopback). */
export const FLAVOURS = {
  /** `stepagent env-serve`: AgentGym's id/data_idx variant, plus instruction, task id and success. */
  stepagent: { ...base, name: "stepagent", instructionField: "instruction", taskIdField: "task_id" },
  /** AgentGym agentenv-webshop: bare int from /create, `env_idx`, `session_id`, step answers `state`. */
  webshop: {
    ...base,
    name: "webshop",
    idField: "env_idx",
    createIdField: null,
    resetIndexField: "session_id",
    resetObservationFields: [],
    stepObservationField: "state",
    readActions: (answer: unknown): string[] => {
      const a = answer as { has_search_bar?: unknown; clickables?: unknown };
      if (typeof a !== "object" || a === null || !Array.isArray(a.clickables)) throw new Error(`expected {has_search_bar, clickables}, got ${brief(answer)}`);
      return [...(a.has_search_bar ? ["search[...]"] : []), ...listOfStrings(a.clickables).map((c) => `click[${c}]`)];
    },
  },
  /** AgentGym agentenv-alfworld: reset by `game` with world_type "Text"; reward is "won"; no /close. */
  alfworld: { ...base, name: "alfworld", resetIndexField: "game", resetExtra: { world_type: "Text" }, routes: { ...base.routes, close: null } },
  /** AgentGym agentenv-sciworld: the task in `task_description`, progress in `score` (0–100); no action list, no /close. */
  sciworld: {
    ...base,
    name: "sciworld",
    resetObservationFields: ["task_description", "observation"],
    instructionField: "task_description",
    stepRewardField: "score",
    successReward: 100,
    routes: { ...base.routes, availableActions: null, close: null },
  },
} satisfies Record<string, ServerFlavour>;

export type FlavourName = keyof typeof FLAVOURS;

export function flavour(name: string): ServerFlavour {
  if (!(name in FLAVOURS)) throw new EnvClientUsageError(`unknown server flavour ${JSON.stringify(name)} (flavours: ${Object.keys(FLAVOURS).join(", ")})`);
  return FLAVOURS[name as FlavourName];
}

/** A bad argument to the client (not a server failure). */
export class EnvClientUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnvClientUsageError";
  }
}

/** A failed call to an env server: where (URL, route, env id) and why. */
export class EnvServerError extends Error {
  constructor(
    readonly url: string,
    /** "POST /step" */
    readonly route: string,
    readonly envId: EnvId | null,
    readonly reason: string,
    /** HTTP status where the server answered, else null. */
    readonly status: number | null,
    /** ECONNREFUSED, ECONNRESET, ETIMEDOUT, …, or HTTP for an error answer, BADANSWER for an unreadable one. */
    readonly code: string,
    readonly attempts: number,
  ) {
    super(`env server ${url}: ${route}${envId !== null ? ` (env ${envId})` : ""}: ${reason}${attempts > 1 ? ` (after ${attempts} attempts)` : ""}`);
    this.name = "EnvServerError";
  }

  /** Whether the server could not be reached or stopped answering (rather than answering an error). */
  get connection(): boolean {
    return this.status === null && this.code !== "BADANSWER";
  }
}

export interface ClientOptions {
  flavour?: ServerFlavour | FlavourName;
  /** Per request, milliseconds [30000]. */
  timeoutMs?: number;
  /** Extra attempts of an idempotent call after a connection error, time-out or 503 [2]. */
  retries?: number;
  /** First backoff, doubled per retry, milliseconds [200]. */
  backoffMs?: number;
}

/** What a stepagent server says about itself (GET /info). */
export interface ServerInfo {
  env: string;
  split: string;
  seed: number;
  tasks: number;
  max_steps: number;
  prompt: string;
}

export interface StepAnswer {
  observation: string;
  reward: number;
  done: boolean;
  /** The server's own verdict where it gives one. */
  success?: boolean;
  /** Valid actions after the step, where the answer lists them. */
  availableActions?: string[];
  raw: unknown;
}

export interface ResetAnswer {
  observation: string;
  instruction?: string;
  taskId?: string;
  availableActions?: string[];
  raw: unknown;
}

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND", "ECONNABORTED"]);

/** HTTP+JSON calls to one env server. */
export class EnvServerClient {
  readonly url: string;
  readonly flavour: ServerFlavour;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;

  constructor(url: string, options: ClientOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new EnvClientUsageError(`server URL ${JSON.stringify(url)} is not a URL (e.g. http://127.0.0.1:36001)`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new EnvClientUsageError(`server URL ${JSON.stringify(url)} must start with http:// or https://`);
    this.url = url.replace(/\/+$/, "");
    this.flavour = typeof options.flavour === "object" ? options.flavour : flavour(options.flavour ?? "stepagent");
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 2;
    this.backoffMs = options.backoffMs ?? 200;
    if (!(this.timeoutMs > 0)) throw new EnvClientUsageError(`timeoutMs must be > 0, got ${this.timeoutMs}`);
    if (!(Number.isInteger(this.retries) && this.retries >= 0)) throw new EnvClientUsageError(`retries must be an integer ≥ 0, got ${this.retries}`);
  }

  /** POST /create → the new env's id. */
  async create(): Promise<EnvId> {
    // Retried: a lost answer at worst leaves one unused env on the server.
    const answer = await this.call("POST", this.flavour.routes.create, null, undefined, true);
    const id = this.flavour.createIdField === null ? answer : field(answer, this.flavour.createIdField);
    if (typeof id !== "number" && typeof id !== "string") throw this.badAnswer("POST", this.flavour.routes.create, null, `expected an env id${this.flavour.createIdField ? ` in "${this.flavour.createIdField}"` : ""}, got ${brief(answer)}`);
    return id;
  }

  /** POST /reset: starts task `index` in env `id`; the first observation (with the instruction). */
  async reset(id: EnvId, index: number): Promise<ResetAnswer> {
    const f = this.flavour;
    const answer = await this.call("POST", f.routes.reset, id, { ...f.resetExtra, [f.resetIndexField]: index }, true);
    let observation: string;
    if (f.resetObservationFields.length === 0) observation = await this.observe(id);
    else {
      const parts = f.resetObservationFields.map((k) => field(answer, k));
      if (!parts.every((p) => typeof p === "string")) throw this.badAnswer("POST", f.routes.reset, id, `expected string fields ${f.resetObservationFields.map((k) => `"${k}"`).join(", ")}, got ${brief(answer)}`);
      observation = (parts as string[]).join("\n");
    }
    const instruction = f.instructionField ? field(answer, f.instructionField) : undefined;
    const taskId = f.taskIdField ? field(answer, f.taskIdField) : undefined;
    const actions = field(answer, "available_actions");
    return {
      observation,
      ...(typeof instruction === "string" ? { instruction } : {}),
      ...(typeof taskId === "string" ? { taskId } : {}),
      ...(Array.isArray(actions) && actions.every((a) => typeof a === "string") ? { availableActions: actions as string[] } : {}),
      raw: answer,
    };
  }

  /** POST /step (never retried, see the module comment). */
  async step(id: EnvId, action: string): Promise<StepAnswer> {
    const f = this.flavour;
    const answer = await this.call("POST", f.routes.step, id, { action }, false);
    const observation = field(answer, f.stepObservationField);
    const reward = field(answer, f.stepRewardField);
    const done = field(answer, f.stepDoneField);
    if (typeof observation !== "string" || typeof reward !== "number" || typeof done !== "boolean") {
      throw this.badAnswer("POST", f.routes.step, id, `expected {"${f.stepObservationField}": string, "${f.stepRewardField}": number, "${f.stepDoneField}": boolean}, got ${brief(answer)}`);
    }
    const success = field(answer, "success");
    const actions = field(answer, "available_actions");
    return {
      observation,
      reward,
      done,
      ...(typeof success === "boolean" ? { success } : {}),
      ...(Array.isArray(actions) && actions.every((a) => typeof a === "string") ? { availableActions: actions as string[] } : {}),
      raw: answer,
    };
  }

  /** GET /observation: the current observation. */
  async observe(id: EnvId): Promise<string> {
    const route = this.flavour.routes.observation;
    const answer = await this.call("GET", route, id, undefined, true);
    if (typeof answer !== "string") throw this.badAnswer("GET", route, id, `expected the observation string, got ${brief(answer)}`);
    return answer;
  }

  /** GET /available_actions, or null where the flavour has no such route. */
  async availableActions(id: EnvId): Promise<string[] | null> {
    const route = this.flavour.routes.availableActions;
    if (route === null) return null;
    const answer = await this.call("GET", route, id, undefined, true);
    try {
      return this.flavour.readActions(answer);
    } catch (err) {
      throw this.badAnswer("GET", route, id, (err as Error).message);
    }
  }

  /** POST /close (a no-op where the flavour has no such route). */
  async close(id: EnvId): Promise<void> {
    const route = this.flavour.routes.close;
    if (route !== null) await this.call("POST", route, id, {}, true);
  }

  /** GET /info: a stepagent server's env, split and prompt; null from other servers (or a 404). */
  async info(): Promise<ServerInfo | null> {
    if (this.flavour.name !== "stepagent") return null;
    let answer: unknown;
    try {
      answer = await this.call("GET", "/info", null, undefined, true);
    } catch (err) {
      // Another server of the same protocol without /info.
      if (err instanceof EnvServerError && err.status === 404) return null;
      throw err;
    }
    const a = answer as Partial<ServerInfo>;
    if (typeof a !== "object" || a === null || typeof a.env !== "string" || typeof a.prompt !== "string" || typeof a.tasks !== "number") throw this.badAnswer("GET", "/info", null, `expected {env, split, seed, tasks, max_steps, prompt}, got ${brief(answer)}`);
    return a as ServerInfo;
  }

  private badAnswer(method: string, route: string, id: EnvId | null, reason: string): EnvServerError {
    return new EnvServerError(this.url, `${method} ${route}`, id, `unexpected answer: ${reason}`, 200, "BADANSWER", 1);
  }

  /** One call with the env id put where the flavour wants it; retried only when `idempotent`. */
  private async call(method: "GET" | "POST", route: string, id: EnvId | null, body: Record<string, unknown> | undefined, idempotent: boolean): Promise<unknown> {
    let target = this.url + route;
    let payload: Record<string, unknown> | undefined = body;
    if (id !== null) {
      if (method === "GET") target += `?${encodeURIComponent(this.flavour.idField)}=${encodeURIComponent(String(id))}`;
      else payload = { ...(body ?? {}), [this.flavour.idField]: id };
    }
    const label = `${method} ${route}`;
    const attempts = idempotent ? this.retries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      const r = await request(method, target, payload, this.timeoutMs);
      if (r.kind === "answer") {
        const answer = r.json;
        const serverError = errorText(answer);
        if (r.status >= 200 && r.status < 300 && serverError === null) return answer;
        if (r.status === 503 && attempt < attempts) {
          await sleep(this.backoffMs * 2 ** (attempt - 1));
          continue;
        }
        const reason = serverError ?? (r.text.trim() ? r.text.trim().slice(0, 300) : "(empty answer)");
        // AgentGym's servers answer failures with 200 {"error": …}.
        throw new EnvServerError(this.url, label, id, r.status >= 200 && r.status < 300 ? `the server reports an error: ${reason}` : `HTTP ${r.status}: ${reason}`, r.status, "HTTP", attempt);
      }
      if (r.kind === "unreadable") throw new EnvServerError(this.url, label, id, `unexpected answer: HTTP ${r.status} with a body that is not JSON: ${JSON.stringify(r.text.slice(0, 120))}`, r.status, "BADANSWER", attempt);
      if (attempt < attempts && CONNECTION_CODES.has(r.code)) {
        await sleep(this.backoffMs * 2 ** (attempt - 1));
        continue;
      }
      throw new EnvServerError(this.url, label, id, r.reason + (idempotent ? "" : attemptNote(label, r.code)), null, r.code, attempt);
    }
  }
}

function attemptNote(label: string, code: string): string {
  if (!label.endsWith(" /step") || code === "ECONNREFUSED") return "";
  return "; not retried: the server may have applied the action";
}

type RawResult = { kind: "answer"; status: number; json: unknown; text: string } | { kind: "unreadable"; status: number; text: string } | { kind: "failed"; code: string; reason: string };

async function request(method: string, target: string, body: unknown, timeoutMs: number): Promise<RawResult> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  // A fresh connection per call (no keep-alive): a socket the server has since closed is never
  // reused, so a connection error always means the server is unreachable.
  const r = await exchange(target, { method, agent: false, timeoutMs, body: data, headers: { accept: "application/json", ...(data !== undefined ? { "content-type": "application/json" } : {}) } });
  if (r.kind === "timeout") return { kind: "failed", code: "ETIMEDOUT", reason: `no answer within ${timeoutMs} ms` };
  if (r.kind === "network") return { kind: "failed", code: r.code, reason: r.message };
  try {
    return { kind: "answer", status: r.status, json: JSON.parse(r.body), text: r.body };
  } catch {
    // Non-JSON error pages still carry a status worth reporting.
    return r.status >= 400 ? { kind: "answer", status: r.status, json: null, text: r.body } : { kind: "unreadable", status: r.status, text: r.body };
  }
}

function errorText(answer: unknown): string | null {
  if (typeof answer !== "object" || answer === null || Array.isArray(answer)) return null;
  const a = answer as Record<string, unknown>;
  if (typeof a.error === "string") return a.error;
  if (a.detail !== undefined) return typeof a.detail === "string" ? a.detail : brief(a.detail); // FastAPI's validation errors
  return null;
}

function field(answer: unknown, name: string): unknown {
  return typeof answer === "object" && answer !== null && !Array.isArray(answer) ? (answer as Record<string, unknown>)[name] : undefined;
}

function brief(v: unknown): string {
  const s = v === undefined ? "nothing" : JSON.stringify(v);
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One env on a server, used like a (asynchronous) TextEnv. */
export class RemoteTextEnv {
  done = false;
  reward = 0;
  success = false;
  steps = 0;
  observation = "";
  private actions: string[] | undefined;

  private constructor(
    readonly client: EnvServerClient,
    readonly id: EnvId,
  ) {}

  static async create(client: EnvServerClient): Promise<RemoteTextEnv> {
    return new RemoteTextEnv(client, await client.create());
  }

  async reset(index: number): Promise<ResetAnswer> {
    const r = await this.client.reset(this.id, index);
    this.done = false;
    this.reward = 0;
    this.success = false;
    this.steps = 0;
    this.observation = r.observation;
    this.actions = r.availableActions;
    return r;
  }

  async step(action: string): Promise<StepAnswer> {
    if (this.done) throw new EnvClientUsageError(`env ${this.id} on ${this.client.url}: step after the episode ended; reset first`);
    const r = await this.client.step(this.id, action);
    this.steps++;
    this.observation = r.observation;
    this.actions = r.availableActions;
    this.done = r.done;
    this.reward = r.reward;
    this.success = r.success ?? (r.done && r.reward >= this.client.flavour.successReward);
    return r;
  }

  observe(): Promise<string> {
    return this.client.observe(this.id);
  }

  /** The valid actions now: from the last answer where it listed them, else asked for. */
  async validActions(): Promise<string[] | null> {
    if (this.actions === undefined) this.actions = (await this.client.availableActions(this.id)) ?? undefined;
    return this.actions ?? null;
  }

  close(): Promise<void> {
    return this.client.close(this.id);
  }
}

/** What a policy sees at each step of a remote episode. */
export interface EpisodeState {
  /** Position of this episode in the collection (0, 1, …); unique even when task indices repeat. */
  episode: number;
  /** The task index sent to /reset. */
  index: number;
  envId: EnvId;
  taskId: string;
  instruction?: string;
  observation: string;
  /** Steps taken so far in this episode. */
  steps: Step<string, string>[];
  /** The valid actions now (from the server; null where it cannot say). */
  validActions(): Promise<string[] | null>;
}

export type RemotePolicy = (state: EpisodeState) => Promise<string | { action: string; thought?: string }>;

export interface CollectOptions {
  /** Episodes run at once, each on its own env [1]. */
  concurrency?: number;
  /** Client-side step cap [the server's max_steps (stepagent), else 50]; a capped episode ends unsuccessful. */
  maxSteps?: number;
  /** Turns put before each trajectory's steps [the server's prompt + "OK" (stepagent), else none]. */
  preamble?: ChatTurn[];
  /** Called with each finished trajectory as soon as it is finished. */
  onEpisode?: (trajectory: TextTrajectory, episode: number) => void | Promise<void>;
  /** Aborting stops before the next step; the finished trajectories are kept (CollectError). */
  signal?: AbortSignal;
}

/** An episode that was cut off: the steps it had taken. */
export interface PartialEpisode {
  episode: number;
  index: number;
  envId: EnvId | null;
  trajectory: TextTrajectory;
  incomplete: true;
}

/** Collection stopped (server died, policy failed, aborted): the finished trajectories survive. */
export class CollectError extends Error {
  constructor(
    override readonly cause: Error,
    /** Every trajectory finished before the failure, in episode order. */
    readonly completed: TextTrajectory[],
    /** Episodes cut off mid-way, marked incomplete. */
    readonly partial: PartialEpisode[],
  ) {
    super(`${cause.message} — ${completed.length} finished episode${completed.length === 1 ? "" : "s"} kept${partial.length ? `; ${partial.map((p) => `episode ${p.episode} (${p.trajectory.id}) cut after ${p.trajectory.steps.length} step${p.trajectory.steps.length === 1 ? "" : "s"}`).join(", ")}` : ""}`);
    this.name = "CollectError";
  }
}

/**
 * Runs one episode per entry of `indices` (task indices for /reset) with `policy`, `concurrency`
 * at a time, and returns the trajectories in episode order. On any failure it stops starting
 * episodes, lets those in flight end, and throws a CollectError holding every finished
 * trajectory and the cut-off ones.
 */
export async function collectEpisodes(client: EnvServerClient, policy: RemotePolicy, indices: readonly number[], options: CollectOptions = {}): Promise<TextTrajectory[]> {
  const concurrency = options.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new EnvClientUsageError(`concurrency must be an integer ≥ 1, got ${concurrency}`);
  const finished = new Map<number, TextTrajectory>();
  const partial: PartialEpisode[] = [];
  const run: { failure: Error | null } = { failure: null };
  let info: ServerInfo | null = null;
  try {
    info = await client.info();
  } catch (err) {
    throw new CollectError(err as Error, [], []);
  }
  const maxSteps = options.maxSteps ?? info?.max_steps ?? 50;
  const preamble = options.preamble ?? (info ? [{ role: "user" as const, content: info.prompt }, { role: "assistant" as const, content: "OK" }] : undefined);
  let next = 0;
  const envs: RemoteTextEnv[] = [];

  const worker = async () => {
    let env: RemoteTextEnv | null = null;
    while (run.failure === null && next < indices.length) {
      const episode = next++;
      const index = indices[episode];
      let traj: TextTrajectory | null = null;
      try {
        if (options.signal?.aborted) throw abortError(options.signal);
        if (!env) {
          env = await RemoteTextEnv.create(client);
          envs.push(env);
        }
        const first = await env.reset(index);
        const e = env;
        const instruction = first.instruction ?? detectInstruction(first.observation);
        traj = {
          id: first.taskId ?? `${client.flavour.name}-${index}`,
          ...(instruction !== undefined ? { instruction } : {}),
          ...(preamble ? { preamble: preamble.map((t) => ({ ...t })) } : {}),
          steps: [],
        };
        const t = traj;
        let obs = first.observation;
        while (!e.done && t.steps.length < maxSteps) {
          if (options.signal?.aborted) throw abortError(options.signal);
          const state: EpisodeState = { episode, index, envId: e.id, taskId: t.id!, ...(t.instruction !== undefined ? { instruction: t.instruction } : {}), observation: obs, steps: t.steps.slice(), validActions: () => e.validActions() };
          const out = await policy(state);
          const turn = typeof out === "string" ? { action: out } : out;
          if (typeof turn?.action !== "string") throw new EnvClientUsageError(`the policy returned ${brief(out)} for episode ${episode}, not an action string`);
          const r = await e.step(turn.action);
          t.steps.push({ observation: obs, ...(turn.thought !== undefined ? { thought: turn.thought } : {}), action: turn.action, reward: r.reward });
          obs = r.observation;
        }
        t.finalObservation = obs;
        t.reward = e.reward;
        t.success = e.success;
        finished.set(episode, t);
        await options.onEpisode?.(t, episode);
      } catch (err) {
        if (traj && !finished.has(episode)) partial.push({ episode, index, envId: env?.id ?? null, trajectory: traj, incomplete: true });
        if (run.failure === null) run.failure = err as Error;
        return;
      }
    }
  };

  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, indices.length)) }, worker));
  // Release the envs; a dead server makes this fail, which changes nothing.
  const failure = run.failure;
  const serverGone = failure instanceof EnvServerError && failure.connection;
  if (!serverGone) await Promise.all(envs.map((e) => e.close().catch(() => undefined)));
  const completed = [...finished.entries()].sort((a, b) => a[0] - b[0]).map(([, t]) => t);
  if (failure !== null) throw new CollectError(failure, completed, partial.sort((a, b) => a.episode - b.episode));
  return completed;
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  return reason instanceof Error && reason.name !== "AbortError" ? reason : new Error("collection interrupted");
}

/**
 * `collectEpisodes`, then the finished trajectories into `file` (written whole through a
 * temporary file, so never half-written) — also when collection fails part-way, in which case
 * the CollectError is rethrown after the file is written (no file when nothing finished).
 */
export async function collectToFile(
  client: EnvServerClient,
  policy: RemotePolicy,
  indices: readonly number[],
  file: string,
  options: CollectOptions & { format?: "sharegpt" | "eto-eval" | "chat"; jsonl?: boolean } = {},
): Promise<{ written: number }> {
  const format = options.format ?? "sharegpt";
  let trajectories: TextTrajectory[];
  try {
    trajectories = await collectEpisodes(client, policy, indices, options);
  } catch (err) {
    if (err instanceof CollectError && err.completed.length > 0) await writeTrajectories(file, err.completed, format, options.jsonl ?? false);
    throw err;
  }
  return { written: await writeTrajectories(file, trajectories, format, options.jsonl ?? false) };
}

/**
 * The scripted expert of a built-in family, played on a local copy of each task: for collecting
 * expert data through a stepagent server (whose GET /info names the family, split and seed). It
 * checks every observation the server sends against the local copy, so a server running other
 * tasks or another version of the env is caught rather than recorded.
 */
export function localExpertPolicy(family: TextEnvFamily<TextTask>, tasks: readonly TextTask[]): RemotePolicy {
  // Per episode: the local env and the observation the server should send next.
  const local = new Map<number, { env: TextEnv; expected: string }>();
  return async (state) => {
    let entry = local.get(state.episode);
    if (state.steps.length === 0 || !entry) {
      const task = tasks[state.index];
      if (!task) throw new EnvClientUsageError(`task index ${state.index} is outside the ${tasks.length} local ${family.name} tasks`);
      const env = family.make(task);
      entry = { env, expected: env.reset(new Rng(0)) };
      local.set(state.episode, entry);
    }
    if (entry.expected !== state.observation) {
      throw new EnvClientUsageError(
        `episode ${state.episode} (task ${state.index}), step ${state.steps.length}: the server's observation differs from the local ${family.name} env's — is the server running the same env, split and seed? server: ${JSON.stringify(state.observation.slice(0, 100))}, local: ${JSON.stringify(entry.expected.slice(0, 100))}`,
      );
    }
    const turn: ExpertTurn = entry.env.expertTurn();
    const r = entry.env.step(turn.action);
    entry.expected = r.observation;
    if (r.done) local.delete(state.episode);
    return turn;
  };
}

/** Uniformly random valid actions (needs a server that lists them). */
export function randomPolicy(rng: Rng): RemotePolicy {
  return async (state) => {
    const actions = await state.validActions();
    if (!actions || actions.length === 0) throw new EnvClientUsageError(`the random policy needs the valid actions, and the server gave none for episode ${state.episode}`);
    return actions[rng.int(actions.length)];
  };
}
