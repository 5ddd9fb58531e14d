/**
 * The env server (src/envs/server.ts) and its client (src/envs/remote.ts), on loopback only:
 * our own server, in-process or as the compiled `stepagent env-serve` child process. The real
 * AgentGym servers are not run here; the webshop/alfworld presets are checked against small
 * stand-ins written in this file from reading AgentGym's code, not against the real thing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import type { AddressInfo } from "node:net";
import { Rng } from "../../src/core/rng";
import { TEXT_ENVS, splitTasks, expertTrajectory, textEnv } from "../../src/envs/text";
import type { TextEnvFamily, TextTask } from "../../src/envs/text/common";
import { EnvServer } from "../../src/envs/server";
import { CollectError, EnvServerClient, EnvServerError, RemoteTextEnv, collectEpisodes, collectToFile, type RemotePolicy } from "../../src/envs/remote";
import type { TextTrajectory } from "../../src/data/formats";

const BIN = path.resolve(__dirname, "../../dist/cli/main.js");
const SEED = 0;

async function withServer<T>(
  name: string,
  tasks: number,
  fn: (server: EnvServer, client: EnvServerClient) => Promise<T>,
  clientOptions: ConstructorParameters<typeof EnvServerClient>[1] = {},
): Promise<T> {
  const server = new EnvServer({ family: textEnv(name), seed: SEED, split: "test", tasks });
  const url = await server.listen(0);
  try {
    return await fn(server, new EnvServerClient(url, clientOptions));
  } finally {
    await server.close();
  }
}

function testTasks(name: string, n: number): { family: TextEnvFamily<TextTask>; tasks: TextTask[] } {
  const family = textEnv(name);
  return { family, tasks: splitTasks(family, SEED, 0, n).test };
}

/** Replays each task's scripted-expert turns (thought + action) as they were taken in process. */
function replayPolicy(experts: TextTrajectory[], onStep?: (s: Parameters<RemotePolicy>[0]) => void | Promise<void>): RemotePolicy {
  return async (state) => {
    await onStep?.(state);
    const s = experts[state.index].steps[state.steps.length];
    return { thought: s.thought, action: s.action };
  };
}

for (const name of Object.keys(TEXT_ENVS)) {
  test(`${name}: the expert's turns replayed through the server give the in-process trajectory exactly`, async () => {
    const { family, tasks } = testTasks(name, 4);
    const experts = tasks.map((t) => expertTrajectory(family, t));
    await withServer(name, 4, async (_server, client) => {
      const got = await collectEpisodes(client, replayPolicy(experts), [0, 1, 2, 3]);
      assert.equal(got.length, 4);
      // Observations, thoughts, actions, per-step rewards, final observation, reward, success, id, instruction, preamble.
      for (let i = 0; i < 4; i++) assert.deepEqual(got[i], experts[i]);
      for (const t of got) assert.equal(t.success, true);
    });
  });

  test(`${name}: an invalid action gets the env's own invalid-action answer`, async () => {
    const { family, tasks } = testTasks(name, 1);
    const local = family.make(tasks[0]);
    local.reset(new Rng(0));
    const want = local.step("dance wildly");
    await withServer(name, 1, async (_server, client) => {
      const env = await RemoteTextEnv.create(client);
      await env.reset(0);
      const r = await env.step("dance wildly");
      assert.equal(r.observation, want.observation);
      assert.match(r.observation, /^(Nothing happens\.|Invalid action)/);
      assert.equal(r.reward, 0);
      assert.equal(r.done, false);
      assert.equal(await env.observe(), want.observation);
      assert.deepEqual(await env.validActions(), local.validActions());
    });
  });
}

test("unknown env id, bad fields, unknown route, step before reset: clear errors naming the URL, route and env id", async () => {
  await withServer("household", 2, async (server, client) => {
    const err = await client.step(999, "look").then(
      () => assert.fail("expected an error"),
      (e) => e,
    );
    assert.ok(err instanceof EnvServerError);
    assert.equal(err.status, 404);
    assert.equal(err.url, server.url);
    assert.equal(err.route, "POST /step");
    assert.equal(err.envId, 999);
    assert.match(err.message, new RegExp(`^env server ${server.url.replace(/[.]/g, "\\.")}: POST /step \\(env 999\\): HTTP 404: unknown env id 999`));
    const id = await client.create();
    await assert.rejects(client.reset(id, 2), (e: EnvServerError) => e.status === 400 && /field "data_idx" must be in 0…1/.test(e.message));
    await assert.rejects(client.step(id, "look"), (e: EnvServerError) => e.status === 409 && /no episode yet; POST \/reset/.test(e.message));
    await assert.rejects(client.observe(12345), (e: EnvServerError) => e.status === 404 && e.route === "GET /observation" && /env 12345/.test(e.message));
    const post = async (route: string, body: string) => {
      const r = await fetch(server.url + route, { method: "POST", body, headers: { "content-type": "application/json" } });
      return { status: r.status, body: (await r.json()) as { error: string } };
    };
    assert.deepEqual(await post("/step", JSON.stringify({ id: "x", action: "look" })), {
      status: 400,
      body: { error: 'field "id" must be a non-negative integer, got "x"' },
    });
    assert.deepEqual(await post("/step", JSON.stringify({ id })), { status: 400, body: { error: 'field "action" must be a string, got nothing' } });
    assert.deepEqual(await post("/reset", JSON.stringify({ id })), { status: 400, body: { error: 'field "data_idx" is missing' } });
    assert.equal((await post("/reset", "{not json")).status, 400);
    const missing = await post("/teleport", "{}");
    assert.equal(missing.status, 404);
    assert.match(missing.body.error, /^no route POST \/teleport \(routes: GET \/, GET \/info, POST \/create, POST \/reset, POST \/step/);
    const wrongMethod = await fetch(`${server.url}/step`);
    assert.equal(wrongMethod.status, 405);
    // close, then the id is unknown
    await client.close(id);
    await assert.rejects(client.reset(id, 0), (e: EnvServerError) => e.status === 404);
    assert.equal(server.openEnvs, 0);
  });
});

test("a step after the episode ended is refused (409) and names the env", async () => {
  const { family, tasks } = testTasks("qa", 1);
  const expert = expertTrajectory(family, tasks[0]);
  await withServer("qa", 1, async (_server, client) => {
    const id = await client.create();
    await client.reset(id, 0);
    let last: Awaited<ReturnType<typeof client.step>> | undefined;
    for (const s of expert.steps) last = await client.step(id, s.action);
    assert.equal(last!.done, true);
    assert.equal(last!.success, true);
    const err: EnvServerError = await client.step(id, "finish[again]").catch((e) => e);
    assert.ok(err instanceof EnvServerError);
    assert.equal(err.status, 409);
    assert.match(
      err.message,
      new RegExp(`POST /step \\(env ${id}\\): HTTP 409: env ${id}: the episode has ended \\(done after ${expert.steps.length} steps\\)`),
    );
    // The final observation stays readable; a reset starts over.
    assert.equal(await client.observe(id), expert.finalObservation);
    assert.equal((await client.reset(id, 0)).observation, expert.steps[0].observation);
  });
});

test("concurrent episodes on one server don't interfere", async () => {
  const { family, tasks } = testTasks("household", 5);
  const experts = tasks.map((t) => expertTrajectory(family, t));
  await withServer("household", 5, async (server, client) => {
    // 15 episodes (each task three times), 6 at once, with random delays so their steps interleave.
    const rng = new Rng(7);
    const indices = Array.from({ length: 15 }, (_, i) => i % 5);
    const got = await collectEpisodes(
      client,
      replayPolicy(experts, () => new Promise((r) => setTimeout(r, rng.int(4)))),
      indices,
      { concurrency: 6 },
    );
    assert.deepEqual(
      got,
      indices.map((i) => experts[i]),
    );
    assert.equal(server.openEnvs, 0, "the collector closes its envs");
    // Two envs stepped in lockstep on different tasks.
    const [a, b] = [await RemoteTextEnv.create(client), await RemoteTextEnv.create(client)];
    await Promise.all([a.reset(0), b.reset(1)]);
    for (let k = 0; k < Math.max(experts[0].steps.length, experts[1].steps.length); k++) {
      const [ra, rb] = await Promise.all([
        k < experts[0].steps.length ? a.step(experts[0].steps[k].action) : null,
        k < experts[1].steps.length ? b.step(experts[1].steps[k].action) : null,
      ]);
      if (ra) assert.equal(ra.observation, experts[0].steps[k + 1]?.observation ?? experts[0].finalObservation);
      if (rb) assert.equal(rb.observation, experts[1].steps[k + 1]?.observation ?? experts[1].finalObservation);
    }
    assert.equal(a.success && b.success, true);
  });
});

/** A server that accepts connections and never answers. */
async function silentServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

test("a server that never answers: a clear time-out within the bound; step is not retried, idempotent calls are", async () => {
  const silent = await silentServer();
  try {
    const client = new EnvServerClient(silent.url, { timeoutMs: 300, retries: 2, backoffMs: 50 });
    let t0 = Date.now();
    const err: EnvServerError = await client.step(3, "look").catch((e) => e);
    const stepMs = Date.now() - t0;
    assert.ok(err instanceof EnvServerError);
    assert.equal(err.code, "ETIMEDOUT");
    assert.equal(err.attempts, 1);
    assert.equal(err.message, `env server ${silent.url}: POST /step (env 3): no answer within 300 ms; not retried: the server may have applied the action`);
    assert.ok(stepMs >= 290 && stepMs < 1500, `step gave up after ${stepMs} ms`);
    t0 = Date.now();
    const err2: EnvServerError = await client.observe(3).catch((e) => e);
    const observeMs = Date.now() - t0;
    assert.equal(err2.attempts, 3);
    assert.match(err2.message, /GET \/observation \(env 3\): no answer within 300 ms \(after 3 attempts\)$/);
    // 3 × 300 ms + backoff 50 + 100 ms
    assert.ok(observeMs >= 1000 && observeMs < 3000, `observe gave up after ${observeMs} ms`);
  } finally {
    await silent.close();
  }
});

test("503 answers are retried with backoff for idempotent calls only; connection refused names the server", async () => {
  let creates = 0;
  let steps = 0;
  const flaky = http.createServer((req, res) => {
    if (req.url === "/create") creates++;
    if (req.url === "/step") steps++;
    const busy = req.url === "/step" || creates < 3;
    res.writeHead(busy ? 503 : 200, { "content-type": "application/json" });
    res.end(JSON.stringify(busy ? { error: "busy" } : { id: 41 }));
  });
  await new Promise<void>((r) => flaky.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`;
  try {
    const client = new EnvServerClient(url, { retries: 2, backoffMs: 10 });
    assert.equal(await client.create(), 41);
    assert.equal(creates, 3);
    await assert.rejects(client.step(41, "look"), (e: EnvServerError) => e.status === 503 && e.attempts === 1 && /HTTP 503: busy/.test(e.message));
    assert.equal(steps, 1);
  } finally {
    await new Promise<void>((r) => flaky.close(() => r()));
  }
  // Now nothing listens there.
  const client = new EnvServerClient(url, { retries: 1, backoffMs: 10 });
  await assert.rejects(
    client.reset(41, 0),
    (e: EnvServerError) => e.code === "ECONNREFUSED" && e.attempts === 2 && e.message.startsWith(`env server ${url}: POST /reset (env 41): connection refused`),
  );
  await assert.rejects(client.step(41, "look"), (e: EnvServerError) => e.code === "ECONNREFUSED" && e.attempts === 1 && !/not retried/.test(e.message));
});

/** `stepagent env-serve` as a child process; resolves once it printed its URL. */
async function spawnServer(...args: string[]): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, "env-serve", "--port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /^(http:\/\/\S+)\n/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`env-serve exited (${code}) before printing its URL: ${err}`)));
  });
  return { child, url, stderr: () => err };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((r) => (child.exitCode !== null || child.signalCode !== null ? r(child.exitCode) : child.once("exit", (code) => r(code))));

/** A policy that replays the expert and SIGKILLs the server after `k` episodes plus `steps` steps of the next. */
function killingPolicy(experts: TextTrajectory[], child: ChildProcess, k: number, steps: number): RemotePolicy {
  return replayPolicy(experts, async (state) => {
    if (state.episode === k && state.steps.length === steps) {
      child.kill("SIGKILL");
      await exited(child);
    }
  });
}

test("the server dies mid-episode: the error names the URL, route and env id; the finished trajectories are intact", async () => {
  const { family, tasks } = testTasks("household", 6);
  const experts = tasks.map((t) => expertTrajectory(family, t));
  const { child, url } = await spawnServer("--env", "household", "--tasks", "6");
  try {
    const client = new EnvServerClient(url, { timeoutMs: 5000, retries: 1, backoffMs: 20 });
    const err: CollectError = await collectEpisodes(client, killingPolicy(experts, child, 2, 3), [0, 1, 2, 3, 4, 5]).catch((e) => e);
    assert.ok(err instanceof CollectError, String(err));
    const cause = err.cause as EnvServerError;
    assert.ok(cause instanceof EnvServerError);
    assert.equal(cause.url, url);
    assert.equal(cause.route, "POST /step");
    assert.equal(cause.code, "ECONNREFUSED");
    assert.equal(cause.envId, 0, "one env, reused for every episode");
    assert.match(
      err.message,
      new RegExp(
        `^env server ${url.replace(/[.]/g, "\\.")}: POST /step \\(env 0\\): connection refused .* — 2 finished episodes kept; episode 2 \\(household-test-2\\) cut after 3 steps$`,
      ),
    );
    assert.deepEqual(err.completed, experts.slice(0, 2));
    assert.equal(err.partial.length, 1);
    const p = err.partial[0];
    assert.equal(p.incomplete, true);
    assert.equal(p.episode, 2);
    assert.equal(p.index, 2);
    assert.equal(p.envId, 0);
    assert.deepEqual(p.trajectory.steps, experts[2].steps.slice(0, 3));
    assert.equal(p.trajectory.finalObservation, undefined);
    assert.equal(p.trajectory.success, undefined);
  } finally {
    child.kill("SIGKILL");
  }
});

test("collectToFile: when the server dies, the finished trajectories are written whole and no temporary file is left", async () => {
  const { family, tasks } = testTasks("shop", 5);
  const experts = tasks.map((t) => expertTrajectory(family, t));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-envsrv-"));
  const { child, url } = await spawnServer("--env", "shop", "--tasks", "5");
  try {
    const out = path.join(dir, "collected.jsonl");
    const client = new EnvServerClient(url, { timeoutMs: 5000, retries: 0 });
    await assert.rejects(
      collectToFile(client, killingPolicy(experts, child, 3, 1), [0, 1, 2, 3, 4], out, { jsonl: true }),
      (e: CollectError) => e instanceof CollectError && e.completed.length === 3,
    );
    assert.deepEqual(fs.readdirSync(dir), ["collected.jsonl"]);
    const lines = fs.readFileSync(out, "utf8").trimEnd().split("\n");
    assert.equal(lines.length, 3);
    // Byte for byte what `stepagent expert-data` writes for the same tasks.
    const ref = path.join(dir, "ref.jsonl");
    const r = spawnSync(process.execPath, [BIN, "expert-data", "--env", "shop", "--split", "test", "--tasks", "3", "--out", ref, "--jsonl"], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(out, "utf8"), fs.readFileSync(ref, "utf8"));
  } finally {
    child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (d) => (stdout += d));
    c.stderr.on("data", (d) => (stderr += d));
    c.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

test("CLI: env-collect --policy expert through env-serve writes what expert-data writes; SIGTERM stops the server cleanly", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-envcli-"));
  const { child, url, stderr } = await spawnServer("--env", "qa", "--tasks", "4", "--seed", "5");
  try {
    const got = await run(["env-collect", "--server", url, "--out", path.join(dir, "got.json"), "--concurrency", "2"]);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stderr, new RegExp(`collected 4 episodes from ${url.replace(/[.]/g, "\\.")} \\(expert policy\\)`));
    const ref = await run(["expert-data", "--env", "qa", "--split", "test", "--tasks", "4", "--seed", "5", "--out", path.join(dir, "ref.json")]);
    assert.equal(ref.code, 0, ref.stderr);
    assert.equal(fs.readFileSync(path.join(dir, "got.json"), "utf8"), fs.readFileSync(path.join(dir, "ref.json"), "utf8"));
    // A random policy also runs end to end (it reads the server's available actions).
    const rnd = await run([
      "env-collect",
      "--server",
      url,
      "--policy",
      "random",
      "--episodes",
      "2",
      "--out",
      path.join(dir, "random.json"),
      "--format",
      "eto-eval",
    ]);
    assert.equal(rnd.code, 0, rnd.stderr);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, "random.json"), "utf8")).length, 2);
    child.kill("SIGTERM");
    assert.equal(await exited(child), 0);
    assert.match(stderr(), /SIGTERM, closing/);
    // Server gone: one clear line, exit 1, no file.
    const dead = await run(["env-collect", "--server", url, "--out", path.join(dir, "dead.json"), "--retries", "0"]);
    assert.equal(dead.code, 1);
    assert.equal(dead.stderr, `stepagent: error: env server ${url}: GET /info: connection refused (ECONNREFUSED): the server is not running, or died\n`);
    assert.equal(fs.existsSync(path.join(dir, "dead.json")), false);
  } finally {
    child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("CLI: env-collect when the server is killed part-way: exit 1, the finished episodes written, nothing half-written", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-envcli-"));
  const { child, url, stderr } = await spawnServer("--env", "household", "--tasks", "12", "--verbose");
  try {
    const out = path.join(dir, "out.json");
    const collecting = run(["env-collect", "--server", url, "--out", out, "--retries", "0"]);
    // Kill the server as soon as it has started its 3rd episode (it logs every request).
    await new Promise<void>((resolve) => {
      const check = () => {
        if ((stderr().match(/POST \/reset 200/g) ?? []).length >= 3) {
          child.kill("SIGKILL");
          resolve();
        } else setTimeout(check, 1);
      };
      check();
    });
    const r = await collecting;
    assert.equal(r.code, 1, r.stderr);
    const m = /wrote the (\d+) finished trajectories to /.exec(r.stderr);
    assert.ok(m, r.stderr);
    const n = Number(m![1]);
    assert.ok(n >= 2 && n < 12, `${n} finished`);
    assert.match(
      r.stderr,
      new RegExp(`^stepagent: error: env server ${url.replace(/[.]/g, "\\.")}: POST /(step|reset) \\(env 0\\): (connection refused|the connection was reset)`),
    );
    assert.deepEqual(fs.readdirSync(dir), ["out.json"]);
    const { family, tasks } = testTasks("household", n);
    const written = JSON.parse(fs.readFileSync(out, "utf8")) as { id: string }[];
    assert.deepEqual(
      written.map((w) => w.id),
      tasks.map((t) => t.id),
    );
    assert.equal(expertTrajectory(family, tasks[0]).steps.length * 2 + 3, (written[0] as unknown as { conversations: unknown[] }).conversations.length);
  } finally {
    child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("CLI: unknown --env, bad --split, bad --flavour → exit 2 with a clear message", () => {
  const sync = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
  let r = sync("env-serve", "--env", "kitchen");
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'stepagent: error: env: unknown environment "kitchen" (environments: household, shop, qa, recipe)\n');
  r = sync("env-serve", "--env", "qa", "--split", "dev");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--split must be train or test, got "dev"/);
  r = sync("env-collect", "--server", "http://127.0.0.1:1", "--flavour", "minecraft", "--out", "x.json");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--flavour must be one of stepagent, webshop, alfworld, sciworld, got "minecraft"/);
  r = sync("env-collect", "--server", "http://127.0.0.1:1", "--flavour", "webshop", "--out", "x.json");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--policy expert needs a stepagent server/);
});

/**
 * Stand-ins for AgentGym's WebShop and ALFWorld servers' wire format (field names and answer
 * shapes as read in their FastAPI code), to check the presets' mapping — not the real servers.
 */
test("webshop and alfworld presets talk to stand-ins of those servers' wire formats", async () => {
  const calls: string[] = [];
  const standIn = http.createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    const b = body ? JSON.parse(body) : {};
    calls.push(`${req.method} ${req.url} ${body}`);
    const send = (x: unknown) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(x));
    };
    const u = new URL(req.url!, "http://x");
    if (u.pathname.startsWith("/ws/")) {
      // WebShop: bare int ids under env_idx; reset answers [obs, null]; the observation is read with GET; step answers state.
      const p = u.pathname.slice(3);
      if (p === "/create") return send(7);
      if (p === "/reset") return send(["ignored", null]);
      if (p === "/observation") return send(`WebShop [SEP] Instruction: [SEP] find a red mug [SEP] Search (env_idx=${u.searchParams.get("env_idx")})`);
      if (p === "/available_actions") return send({ has_search_bar: true, clickables: ["search"] });
      if (p === "/step")
        return send({ state: `searched ${b.action}`, reward: b.action === "click[buy now]" ? 1 : 0, done: b.action === "click[buy now]", info: null });
      if (p === "/close") return send({ closed: true });
    } else {
      // ALFWorld: {id}; reset by game + world_type; failures are 200 {"error"}.
      if (u.pathname === "/create") return send({ id: 3 });
      if (u.pathname === "/reset")
        return send({
          id: b.id,
          observation: `-= Welcome =-\nYour task is to: put a mug in desk.`,
          available_actions: ["go to desk 1", "look"],
          task_type: "pick",
        });
      if (u.pathname === "/step")
        return b.action === "explode"
          ? send({ error: "The task with environment 3 has finished." })
          : send({ observation: "You arrive at desk 1.", reward: 1, available_actions: [], done: true });
    }
    res.writeHead(404).end(JSON.stringify({ detail: "Not Found" }));
  });
  await new Promise<void>((r) => standIn.listen(0, "127.0.0.1", r));
  const root = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}`;
  try {
    const ws = new EnvServerClient(`${root}/ws`, { flavour: "webshop" });
    const got = await collectEpisodes(
      ws,
      async (s) => ((await s.validActions())!.includes("click[search]") && s.steps.length === 0 ? "search[red mug]" : "click[buy now]"),
      [12],
      { maxSteps: 5 },
    );
    assert.equal(got[0].id, "webshop-12");
    assert.equal(got[0].instruction, "find a red mug");
    assert.deepEqual(
      got[0].steps.map((s) => s.action),
      ["search[red mug]", "click[buy now]"],
    );
    assert.equal(got[0].steps[0].observation, "WebShop [SEP] Instruction: [SEP] find a red mug [SEP] Search (env_idx=7)");
    assert.equal(got[0].reward, 1);
    assert.equal(got[0].success, true);
    assert.equal(got[0].preamble, undefined);
    assert.ok(calls.includes('POST /ws/reset {"session_id":12,"env_idx":7}'), calls.join("\n"));
    assert.ok(calls.includes('POST /ws/close {"env_idx":7}'));

    const alf = new EnvServerClient(root, { flavour: "alfworld" });
    const env = await RemoteTextEnv.create(alf);
    const first = await env.reset(5);
    assert.equal(first.observation, "-= Welcome =-\nYour task is to: put a mug in desk.");
    assert.deepEqual(await env.validActions(), ["go to desk 1", "look"]);
    assert.ok(calls.includes('POST /reset {"world_type":"Text","game":5,"id":3}'));
    await assert.rejects(
      alf.step(3, "explode"),
      (e: EnvServerError) =>
        e.status === 200 && e.message === `env server ${root}: POST /step (env 3): the server reports an error: The task with environment 3 has finished.`,
    );
    const r = await env.step("go to desk 1");
    assert.equal(env.success, r.reward === 1 && r.done);
    await env.close(); // the ALFWorld server has no /close: nothing is sent
    assert.equal(calls.filter((c) => c.startsWith("POST /close")).length, 0);
  } finally {
    await new Promise<void>((r) => standIn.close(() => r()));
  }
});
