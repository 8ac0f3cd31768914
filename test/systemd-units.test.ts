// deploy/systemd: install.sh renders the units and environment files; systemd-analyze verify accepts the units; each
// TimeoutStopSec is derived from the environment files (the agent's covers its drain); and the units' ExecStart lines,
// run the way systemd runs them (test/harness/systemd-unit.ts: same working directory, environment and kill signal,
// but as the test's user and without the sandboxing), make a fabric that serves an invocation and stops in time.
// This machine has no systemd as PID 1, so Restart= and the dependencies are checked by systemd-analyze only.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { freePort } from "./harness/nats.js";
import { uniqueDbName } from "./harness/mongo.js";
import { http, waitUntilHealthy } from "./harness/fabric.js";
import { until } from "./harness/eventually.js";
import { parseUnit, serviceValue, startUnit, type RunningUnit } from "./harness/systemd-unit.js";
import { connect } from "node:net";
import { serverGoMaxProcs } from "../deploy/go-servers.js";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "..");
const INSTALL = join(ROOT, "deploy/systemd/install.sh");
const UNITS = ["weft-nats", "weft-ferretdb", "weft-controller", "weft-agent", "weft-gateway"];

let dir: string;
let dirs: { units: string; etc: string; state: string; bin: string };
const ports = { nats: 0, mongo: 0, http: 0, grpc: 0 };
const started: RunningUnit[] = [];

async function install(): Promise<string> {
  const { stderr } = await run("bash", [INSTALL, "--render-only", "--unit-dir", dirs.units, "--etc-dir", dirs.etc, "--state-dir", dirs.state, "--bin-dir", dirs.bin], { cwd: ROOT });
  return stderr;
}

/** Points the rendered environment files at private ports, database and agent id, as an operator edits them. */
async function makePrivate(): Promise<void> {
  const edit = async (file: string, pairs: Array<[RegExp, string]>, extra = "") => {
    let text = await readFile(join(dirs.etc, file), "utf8");
    for (const [from, to] of pairs) {
      assert.match(text, from, `${file} has ${from}`);
      text = text.replace(from, to);
    }
    await writeFile(join(dirs.etc, file), text + extra);
  };
  await edit("nats.conf", [[/listen: 127\.0\.0\.1:4222/, `listen: 127.0.0.1:${ports.nats}`]]);
  await edit("ferretdb.env", [[/FERRETDB_LISTEN_ADDR=127\.0\.0\.1:27017/, `FERRETDB_LISTEN_ADDR=127.0.0.1:${ports.mongo}`]]);
  await edit("weft.env", [[/WEFT_NATS_URL=nats:\/\/127\.0\.0\.1:4222/, `WEFT_NATS_URL=nats://127.0.0.1:${ports.nats}`], [/WEFT_LOG_LEVEL=info/, "WEFT_LOG_LEVEL=warn"]]);
  await edit("controller.env", [[/WEFT_MONGO_URL=mongodb:\/\/127\.0\.0\.1:27017/, `WEFT_MONGO_URL=mongodb://127.0.0.1:${ports.mongo}`], [/WEFT_MONGO_DB=weft/, `WEFT_MONGO_DB=${uniqueDbName("systemd")}`]]);
  await edit("agent.env", [[/WEFT_DRAIN_TIMEOUT_MS=30000/, "WEFT_DRAIN_TIMEOUT_MS=20000"]],
    `WEFT_AGENT_ID=systemd-test-${randomBytes(3).toString("hex")}\nWEFT_STEM_CELLS=0\n`);
  await edit("gateway.env", [[/WEFT_HTTP_PORT=8080/, `WEFT_HTTP_PORT=${ports.http}`], [/WEFT_GRPC_PORT=50051/, `WEFT_GRPC_PORT=${ports.grpc}`]]);
}

function listening(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => { s.destroy(); res(true); });
    s.once("error", () => res(false));
  });
}

async function unit(name: string) {
  return parseUnit(await readFile(join(dirs.units, `${name}.service`), "utf8"));
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "weft-systemd-"));
  dirs = { units: join(dir, "units"), etc: join(dir, "etc"), state: join(dir, "state"), bin: join(dir, "bin") };
  for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await freePort();
});

after(async () => {
  for (const u of started.reverse()) await u.stop();
  await rm(dir, { recursive: true, force: true });
});

test("install.sh renders every unit and environment file, and keeps the operator's edits when run again", async () => {
  await install();
  assert.deepEqual((await readdir(dirs.units)).sort(), [...UNITS.map((u) => `${u}.service`), "weft.target"].sort());
  assert.deepEqual((await readdir(dirs.etc)).sort(), ["agent.env", "controller.env", "ferretdb.env", "gateway.env", "nats.conf", "weft.env"]);
  for (const f of [...(await readdir(dirs.units)).map((u) => join(dirs.units, u)), ...(await readdir(dirs.etc)).map((e) => join(dirs.etc, e))]) {
    assert.doesNotMatch(await readFile(f, "utf8"), /@[A-Z_]+@/, `${f} has no placeholder left`);
  }
  // nats-server and FerretDB run with half the host's cores as GOMAXPROCS (deploy/go-servers.ts).
  assert.match(await readFile(join(dirs.etc, "ferretdb.env"), "utf8"), new RegExp(`^GOMAXPROCS=${serverGoMaxProcs()}$`, "m"));
  assert.deepEqual(serviceValue(await unit("weft-nats"), "Environment"), `GOMAXPROCS=${serverGoMaxProcs()}`);
  await makePrivate();
  const again = await install();
  assert.match(again, /agent\.env kept/);
  assert.match(await readFile(join(dirs.etc, "agent.env"), "utf8"), /WEFT_DRAIN_TIMEOUT_MS=20000/);
});

test("each TimeoutStopSec is the component's own drain bound plus the margin, from the environment files", async () => {
  const seconds = async (name: string) => Number(serviceValue(await unit(name), "TimeoutStopSec"));
  assert.equal(await seconds("weft-agent"), 20 + 15, "WEFT_DRAIN_TIMEOUT_MS=20000 in agent.env + WEFT_STOP_MARGIN_MS=15000 in weft.env");
  assert.equal(await seconds("weft-gateway"), 10 + 15, "WEFT_SHUTDOWN_GRACE_MS=10000 in gateway.env + the margin");
  assert.equal(await seconds("weft-controller"), 15);
  for (const name of UNITS) {
    const u = await unit(name);
    assert.equal(serviceValue(u, "Restart"), "always", name);
    assert.equal(u.Unit?.StartLimitIntervalSec?.at(-1), "0", `${name} never stops restarting`);
    assert.equal(u.Install?.WantedBy?.at(-1), "weft.target", name);
  }
});

test("systemd-analyze verify accepts the rendered units", async () => {
  const files = (await readdir(dirs.units)).map((u) => join(dirs.units, u));
  // Fails here, with the reason, on a machine without systemd-analyze (Debian: apt-get install systemd).
  const { stdout, stderr } = await run("systemd-analyze", ["verify", "--man=no", ...files]);
  assert.equal(`${stdout}${stderr}`.trim(), "", "no warning");
});

test("the units' ExecStart lines, started as systemd starts them, serve an invocation and stop within TimeoutStopSec", async () => {
  const waitFor = [ports.nats, ports.mongo];
  for (const [i, name] of UNITS.entries()) {
    const u = startUnit(name, join(dirs.units, `${name}.service`));
    started.push(u);
    const port = waitFor[i];
    if (port !== undefined) await until(() => listening(port), `${name} listening on ${port}`, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${u.output()}`);
    });
    if (port !== undefined) {
      const environ = await readFile(`/proc/${u.child.pid}/environ`, "utf8");
      assert.ok(environ.split("\0").includes(`GOMAXPROCS=${serverGoMaxProcs()}`), `${name} runs with GOMAXPROCS=${serverGoMaxProcs()}`);
    }
  }
  const url = `http://127.0.0.1:${ports.http}`;
  await waitUntilHealthy(url, 90_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${started.map((s) => `--- ${s.name}\n${s.output()}`).join("\n")}`);
  });
  // /healthz is 200 once an agent runs; deploying also needs the controller and its MongoDB.
  await until(async () => {
    const h = await http(url, "GET", "/healthz");
    return h.body.controller === "ok" && h.body.mongo === "ok";
  }, "the controller and MongoDB ready", 60_000);
  const put = await http(url, "PUT", "/v1/functions/systemd-echo", { runtime: "nodejs", code: "exports.handler = async (e) => ({ echo: e.v })" });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  const res = await http(url, "POST", "/v1/functions/systemd-echo/invoke", { v: "from a unit" });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body.output, { echo: "from a unit" });

  for (const u of [...started].reverse()) {
    const { ms, code, signal } = await u.stop();
    assert.ok(ms < u.timeoutStopMs, `${u.name} stopped in ${ms} ms, within its TimeoutStopSec (${u.timeoutStopMs} ms)`);
    assert.equal(signal, null, `${u.name} exited by itself, not killed`);
    if (["weft-controller", "weft-agent", "weft-gateway"].includes(u.name)) assert.equal(code, 0, `${u.name} exit code\n${u.output()}`);
  }
  started.length = 0;
});
