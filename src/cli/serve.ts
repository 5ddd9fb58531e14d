/**
 * `stepagent serve --checkpoint DIR/policy.json [--host 127.0.0.1] [--port 8000] [--model NAME]
 *  [--api-key-env VAR] [--seed N] [--quiet]`
 * Serves a trained policy through OpenAI-compatible endpoints (src/policies/serve.ts) until
 * SIGINT/SIGTERM. Prints "stepagent serve: MODEL at URL" on stdout once listening.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UsageError, intOption, isLoopback, nextStopSignal, parseFlags, portOption } from "./options";
import { InputError } from "../core/errors";
import { initBackend, describeBackend } from "../backend";
import { loadCheckpoint } from "../policies/checkpoint";
import { servePolicy } from "../policies/serve";

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { strings: ["checkpoint", "host", "port", "model", "api-key-env", "seed"], booleans: ["quiet"] });
  if (!values.checkpoint) throw new UsageError("serve needs --checkpoint FILE (the policy.json that stepagent train --out DIR writes)");
  const port = portOption(values, 8000);
  const seed = intOption(values, "seed", 0, 0);
  const host = (values.host as string | undefined) ?? "127.0.0.1";
  const model = (values.model as string | undefined) ?? "stepagent";
  if (!model.trim()) throw new UsageError("--model must not be empty");
  let apiKey: string | undefined;
  const keyEnv = values["api-key-env"] as string | undefined;
  if (keyEnv !== undefined) {
    apiKey = process.env[keyEnv];
    if (!apiKey) throw new InputError(`--api-key-env ${keyEnv}`, `the environment variable ${keyEnv} is not set or empty; set it to the key clients must send`);
  }
  let file = values.checkpoint as string;
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "policy.json");

  const backend = await initBackend();
  const log = (s: string) => process.stderr.write(s + "\n");
  log(describeBackend(backend));
  const { policy } = loadCheckpoint(file);
  if (!isLoopback(host) && !apiKey) log(`stepagent serve: warning: listening on ${host} without an API key (--api-key-env VAR); anyone who can reach it can use it`);
  let server;
  try {
    server = await servePolicy(policy, {
      host,
      port,
      model,
      apiKey,
      seed,
      onRequest: values.quiet ? undefined : (r) => log(`${r.method} ${r.path} ${r.status} ${r.ms} ms`),
    });
  } catch (e) {
    policy.dispose();
    throw e;
  }
  process.stdout.write(`stepagent serve: ${model} at ${server.url}\n`);
  const signal = await nextStopSignal();
  await server.close();
  policy.dispose();
  log(`stepagent serve: stopped (${signal})`);
  return 0;
}
