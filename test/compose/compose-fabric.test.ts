// deploy/compose on the real engine (npm run test:compose; not in npm test: it builds images and runs ten
// containers): npm run compose builds the images from local binaries and this checkout, brings the fabric up on
// private ports under its own project name (three NATS nodes with R3 streams, FerretDB, controller, gateway, two
// agents), invokes functions over HTTP on runc and gVisor, stops the NATS node leading the jobs stream and still
// gets answers, sees Compose restart an agent that exits, and tears it all down, function containers included.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { composeCommand } from "../../deploy/compose/compose.js";
import { readWeftEnv } from "../../deploy/weft-env.js";
import { http, waitUntilHealthy } from "../harness/fabric.js";
import { eventually } from "../harness/eventually.js";
import { freePort } from "../harness/nats.js";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const project = `weft-test-${randomBytes(3).toString("hex")}`;
let env: NodeJS.ProcessEnv;
let url: string;

/** npm run compose -- -p <project> <args>, with the test's environment. */
function npmCompose(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, ["--import", "tsx", "deploy/compose/compose.ts", "-p", project, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.once("exit", (code) => resolveRun({ code, output }));
  });
}

/** Plain Compose on the same file and project, as an operator would run it. */
async function compose(args: string[]): Promise<string> {
  const [command, ...pre] = composeCommand(readWeftEnv());
  const { stdout } = await run(command!, [...pre, "-f", "deploy/compose/compose.yaml", "-p", project, ...args], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function agentContainers(): Promise<string[]> {
  const { stdout } = await run("docker", ["ps", "-a", "--filter", "label=weft.managed", "--format", "{{.Label \"weft.agent\"}}"]);
  return stdout.split("\n").filter((id) => id.startsWith(`${project}-agent-`));
}

/**
 * The streams' replica counts, the node leading WEFT_JOBS, and the streams with a replica not current: asked from
 * inside the fabric (the controller's container), where the NATS nodes are reachable.
 */
async function streamsInfo(): Promise<{ replicas: Record<string, number>; jobsLeader: string; lagging: string[] }> {
  const out = await compose(["exec", "-T", "controller", "node", "--input-type=module", "-e", `
    const { connect } = await import("@nats-io/transport-node");
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const nc = await connect({ servers: process.env.WEFT_NATS_URL.split(",") });
    const jsm = await jetstreamManager(nc);
    const out = { replicas: {}, jobsLeader: "", lagging: [] };
    for (const s of ["WEFT_JOBS", "WEFT_RECORDS", "WEFT_JOB_ADVISORIES", "KV_weft-functions"]) {
      const c = (await jsm.streams.info(s)).cluster;
      out.replicas[s] = c.replicas.length + 1;
      if (s === "WEFT_JOBS") out.jobsLeader = c.leader;
      if (!c.leader || c.replicas.some((r) => !r.current || r.offline)) out.lagging.push(s);
    }
    console.log(JSON.stringify(out));
    await nc.close();`]);
  return JSON.parse(out);
}

before(async () => {
  const httpPort = await freePort();
  env = {
    ...process.env,
    WEFT_COMPOSE_HTTP_PORT: String(httpPort),
    WEFT_COMPOSE_GRPC_PORT: String(await freePort()),
    WEFT_DRAIN_TIMEOUT_MS: "20000",
    WEFT_STEM_CELLS: "0",
    WEFT_LOG_LEVEL: "warn",
  };
  url = `http://127.0.0.1:${httpPort}`;
});

after(async () => {
  await npmCompose(["down", "-v", "--timeout", "40"]);
});

test("the Compose file resolves with the agents' stop grace derived from their drain, distinct agent ids and no registry", async () => {
  const { code, output } = await npmCompose(["config", "--format", "json"]);
  assert.equal(code, 0, output);
  const config = JSON.parse(output.slice(output.indexOf("{"))) as { services: Record<string, { stop_grace_period?: string; pull_policy?: string; environment?: Record<string, string>; volumes?: Array<{ target: string }> }> };
  const agents = ["agent-1", "agent-2"].map((n) => config.services[n]!);
  for (const a of agents) {
    assert.equal(a.environment?.WEFT_DRAIN_TIMEOUT_MS, "20000");
    assert.equal(a.stop_grace_period, "35s", "20 s of drain + 15 s of margin");
    assert.ok(a.volumes?.some((v) => v.target === "/var/run/docker.sock"), "the agent has the host's Docker socket");
  }
  assert.deepEqual(agents.map((a) => a.environment?.WEFT_AGENT_ID), [`${project}-agent-1`, `${project}-agent-2`]);
  for (const [name, s] of Object.entries(config.services)) assert.equal(s.pull_policy, "never", `${name} is never pulled`);
  assert.equal(config.services.controller?.environment?.WEFT_STREAM_REPLICAS, "3");
});

test("npm run compose brings the fabric up; functions run on runc and gVisor; calls succeed with the NATS node leading the jobs stream stopped; an agent that exits is restarted; down removes everything", async (t) => {
  const started = Date.now();
  const up = await npmCompose(["up", "-d", "--wait", "--wait-timeout", "150"]);
  assert.equal(up.code, 0, up.output);
  t.diagnostic(`up (images cached or built, then every health check) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await waitUntilHealthy(url, 60_000);
  await eventually(async () => {
    const h = await http(url, "GET", "/healthz");
    return h.body.agents?.length === 2 && h.body.controller === "ok" && h.body.mongo === "ok" ? true : undefined;
  }, "both agents heard, the controller and MongoDB up", 60_000, 200);

  // Every stream has three replicas.
  const streams = await streamsInfo();
  assert.deepEqual(streams.replicas, { WEFT_JOBS: 3, WEFT_RECORDS: 3, WEFT_JOB_ADVISORIES: 3, "KV_weft-functions": 3 });

  for (const [name, body] of [
    ["compose-py", { runtime: "python3", code: "def handler(event, context):\n    return {'echo': event['v']}\n" }],
    ["compose-js-gvisor", { runtime: "nodejs", isolation: "gvisor", code: "exports.handler = async (e) => ({ echo: e.v })" }],
  ] as const) {
    const put = await http(url, "PUT", `/v1/functions/${name}`, body);
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const res = await http(url, "POST", `/v1/functions/${name}/invoke`, { v: name });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.output, { echo: name }, JSON.stringify(res.body));
    assert.match(res.body.agent, new RegExp(`^${project}-agent-[12]$`));
  }

  // One NATS node goes (the one leading the jobs stream, so a new leader is elected): calls still succeed. Then it
  // comes back and catches up.
  const leader = streams.jobsLeader;
  assert.match(leader, /^nats-[123]$/);
  await compose(["stop", "-t", "10", leader]);
  const stoppedAt = Date.now();
  for (let i = 0; i < 5; i++) {
    const res = await http(url, "POST", "/v1/functions/compose-py/invoke", { v: `without ${leader} ${i}` });
    assert.equal(res.status, 200, `call ${i} with ${leader} stopped: ${JSON.stringify(res.body)}`);
    assert.deepEqual(res.body.output, { echo: `without ${leader} ${i}` });
  }
  t.diagnostic(`5 calls answered 200 within ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s of stopping ${leader}`);
  assert.notEqual((await streamsInfo()).jobsLeader, leader, "another node leads the jobs stream");
  await compose(["start", leader]);
  await eventually(async () => ((await streamsInfo()).lagging.length === 0 ? true : undefined), `${leader} back and every replica current`, 90_000, 500);

  // The agent exits (SIGTERM to its PID 1: it drains and exits 0); restart: unless-stopped brings it back.
  await compose(["exec", "-T", "agent-2", "bash", "-c", "kill -TERM 1"]);
  await eventually(async () => {
    const { stdout } = await run("docker", ["inspect", "-f", "{{.RestartCount}} {{.State.Running}}", `${project}-agent-2-1`]);
    return stdout.trim() === "1 true" ? true : undefined;
  }, "agent-2 restarted by Compose", 60_000, 250);
  await eventually(async () => {
    const h = await http(url, "GET", "/healthz");
    return h.body.agents?.filter((a: { state: string }) => a.state === "running").length === 2 ? true : undefined;
  }, "both agents running again", 60_000, 200);

  const down = await npmCompose(["down", "-v", "--timeout", "40"]);
  assert.equal(down.code, 0, down.output);
  assert.equal((await compose(["ps", "-a", "-q"])).trim(), "", "no Compose container left");
  assert.deepEqual(await agentContainers(), [], "the agents removed their function containers as they stopped");
});
