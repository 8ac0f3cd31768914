// Ad-hoc code execution on the real fabric (Docker with runc and gVisor, NATS, FerretDB): scripts with stdin, exit
// codes, timeouts and output caps; handler mode; a sandbox never serves a second run; records by id; gRPC and NATS;
// and the per-client rate limit (429 with Retry-After).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import Dockerode from "dockerode";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startGateway } from "../gateway/app.js";
import { loadGatewayConfig } from "../gateway/config.js";
import { HEADERS } from "../shared/headers.js";
import { EXECUTE_SUBJECT } from "../shared/subjects.js";
import { ExecutionResult } from "../shared/schemas/execution.js";
import { eventually, http, startFabric, testLogger, type Fabric } from "./harness/fabric.js";
import { loadWeftProto, toProtoValue } from "./bench/grpc-client.js";

const ISOLATIONS = ["runc", "gvisor"] as const;
const LOG_LIMIT = 256 * 1024;

let fabric: Fabric;
let nc: NatsConnection;
const docker = new Dockerode();

before(async () => {
  fabric = await startFabric({
    agentEnv: { WEFT_EXEC_POOL_SIZE: "1", WEFT_STEM_CELLS: "0" },
    // The shared limit is generous here; the 429 test starts a gateway of its own with a tight one.
    gatewayEnv: { WEFT_EXECUTE_RATE: "1000", WEFT_EXECUTE_BURST: "1000" },
  });
  nc = await connect({ servers: fabric.nats.url });
});

after(async () => {
  await nc?.close();
  await fabric?.stop();
});

async function execute(body: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${fabric.httpUrl}/v1/execute`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

async function ok(body: Record<string, unknown>): Promise<any> {
  const r = await execute(body);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  ExecutionResult.parse(r.body);
  assert.equal(r.headers.get(HEADERS.invocationId), r.body.invocationId);
  return r.body;
}

const sandboxes = async (runtime: string, isolation: string) =>
  (await docker.listContainers({ all: true, filters: { label: [`weft.agent=${fabric.agent.agentId}`, `weft.runtime=${runtime}`, `weft.isolation=${isolation}`] } })).map((c) => c.Id);

for (const isolation of ISOLATIONS) {
  test(`${isolation}: a python script reads stdin, writes stdout and stderr apart, exits 0`, async () => {
    const r = await ok({ runtime: "python3", isolation, code: "import sys\ndata = sys.stdin.read()\nprint(data.upper())\nprint('to stderr', file=sys.stderr)\n", stdin: "hello weft" });
    assert.equal(r.status, "ok");
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, "HELLO WEFT\n");
    assert.equal(r.stderr, "to stderr\n");
    assert.equal(r.mode, "script");
    assert.equal(r.isolation, isolation);
    assert.equal(r.error, undefined);
  });

  test(`${isolation}: a non-zero exit is status error NONZERO_EXIT with the exit code and the output`, async () => {
    const r = await ok({ runtime: "nodejs", isolation, code: "console.log('partial'); process.exit(3)" });
    assert.equal(r.status, "error");
    assert.equal(r.error.code, "NONZERO_EXIT");
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, "partial\n");
  });

  test(`${isolation}: a script past its timeout is status timeout, and the run ends near the limit`, async () => {
    const started = Date.now();
    const r = await ok({ runtime: "python3", isolation, code: "import time\ntime.sleep(30)\n", limits: { timeoutMs: 500 } });
    assert.equal(r.status, "timeout");
    assert.equal(r.error.code, "TIMEOUT");
    assert.equal(r.exitCode, null);
    assert.ok(Date.now() - started < 10_000, "the sandbox was killed at the timeout, not after the sleep");
  });

  test(`${isolation}: stdout and stderr are each cut at the log limit and flagged`, async () => {
    const r = await ok({ runtime: "python3", isolation, code: "import sys\nsys.stdout.write('a' * 400000)\nsys.stderr.write('b' * 300000)\n" });
    assert.equal(r.status, "ok");
    assert.equal(r.stdout.length, LOG_LIMIT);
    assert.equal(r.stderr.length, LOG_LIMIT);
    assert.equal(r.stdoutTruncated, true);
    assert.equal(r.stderrTruncated, true);
  });

  test(`${isolation}: a sandbox runs one program only: it is removed afterwards and the next run gets another`, async () => {
    // The pool refills in the background after the runs before this one: wait for its pre-started sandbox.
    const pooled = await eventually(async () => {
      const ids = await sandboxes("python3.13", isolation);
      return ids.length > 0 ? ids : undefined;
    }, "a pre-started sandbox");
    // The first run leaves a file behind in /tmp; the second must not see it: it runs in another container.
    const first = await ok({ runtime: "python3", isolation, code: "import os\nopen('/tmp/left-behind', 'w').write('x')\nprint(os.path.exists('/tmp/left-behind'))" });
    assert.equal(first.stdout, "True\n");
    const second = await ok({ runtime: "python3", isolation, code: "import os\nprint(os.path.exists('/tmp/left-behind'))" });
    assert.equal(second.stdout, "False\n");
    await eventually(async () => {
      const now = await sandboxes("python3.13", isolation);
      return pooled.every((id) => !now.includes(id)) ? true : undefined;
    }, "the sandboxes that ran the programs removed");
  });

  test(`${isolation}: handler mode runs handler(event, context) and adds output`, async () => {
    const r = await ok({ runtime: "nodejs", isolation, mode: "handler", code: "exports.handler = async (e) => { console.log('hi'); return { n: e.n + 1 } }", event: { n: 41 } });
    assert.equal(r.status, "ok");
    assert.deepEqual(r.output, { n: 42 });
    assert.equal(r.mode, "handler");
    assert.match(r.stdout, /hi/);
  });
}

test("the program runs as uid 65534 in /tmp, and cannot change its own source", async () => {
  const r = await ok({ runtime: "python3", code: "import os\nprint(os.getuid(), os.getcwd())\ntry:\n    open(__file__, 'w')\n    print('writable')\nexcept OSError:\n    print('read-only')\n" });
  assert.equal(r.stdout, "65534 /tmp\nread-only\n");
});

test("a pooled sandbox is a hand-off: after a warm-up, runs are not cold starts and the pool refills", async () => {
  await ok({ runtime: "python3", code: "pass" });
  await eventually(async () => ((await ok({ runtime: "python3", code: "pass" })).coldStart === false ? true : undefined), "a pre-started sandbox");
});

test("the record of a run is kept (kind execute) and found by id", async () => {
  const r = await ok({ runtime: "python3", code: "import sys\nprint('recorded')\nsys.exit(2)\n" });
  // The record as the GET that found it answered (a second GET under load could answer 503 and hide what the first found).
  const rec = await eventually(async () => {
    const res = await http(fabric.httpUrl, "GET", `/v1/invocations/${r.invocationId}`);
    return res.status === 200 ? res.body : undefined;
  }, "the record");
  assert.equal(rec.kind, "execute");
  assert.equal(rec.status, "error");
  assert.equal(rec.error.code, "NONZERO_EXIT");
  assert.match(rec.logs, /recorded/);
});

test("bad requests are 400 naming the field", async () => {
  const cases: Array<[unknown, string]> = [
    [{ code: "print(1)" }, "runtime"],
    [{ runtime: "ruby", code: "puts 1" }, "runtime"],
    [{ runtime: "python3", code: "" }, "code"],
    [{ runtime: "python3", code: "x", mode: "batch" }, "mode"],
    [{ runtime: "python3", code: "x", limits: { timeoutMs: 10 } }, "limits.timeoutMs"],
    [{ runtime: "python3", code: "x", isolation: "kata" }, "isolation"],
    [{ runtime: "python3", code: "x", event: {} }, "event"],
    [{ runtime: "python3", code: "x", extra: 1 }, "extra"],
  ];
  for (const [body, field] of cases) {
    const r = await execute(body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.field, field, JSON.stringify(body));
  }
});

test("gRPC ExecutionService/Execute runs a script and a handler", async () => {
  const weft = loadWeftProto();
  const client = new weft.ExecutionService(fabric.grpcAddress, credentials.createInsecure());
  const call = (req: unknown) =>
    new Promise<{ err: ServiceError | null; res: any }>((resolve) => client.Execute(req, new Metadata(), (err: ServiceError | null, res: any) => resolve({ err, res })));
  try {
    const script = await call({ runtime: "python3", code: "import sys\nprint(sys.stdin.read()[::-1])\nsys.exit(1)", stdin: "abc" });
    assert.equal(script.err, null);
    assert.equal(script.res.status, "error");
    assert.equal(script.res.exitCode, 1);
    assert.equal(script.res.stdout, "cba\n");
    const handler = await call({ runtime: "python3", mode: "handler", code: "def handler(e, c):\n    return e['x'] * 2\n", event: toProtoValue({ x: 21 }) });
    assert.equal(handler.err, null);
    assert.deepEqual(handler.res.output, { numberValue: 42, kind: "numberValue" });
    const bad = await call({ runtime: "python3" });
    assert.equal(bad.err?.code, GrpcStatus.INVALID_ARGUMENT);
  } finally {
    client.close();
  }
});

test("NATS weft.execute answers the result object, and {error} with Weft-Error-Code", async () => {
  const reply = await nc.request(EXECUTE_SUBJECT, JSON.stringify({ runtime: "nodejs", code: "process.stdin.on('data', d => process.stdout.write(String(d).length + ''))", stdin: "four" }), { timeout: 30_000 });
  const r = ExecutionResult.parse(reply.json());
  assert.equal(r.status, "ok");
  assert.equal(r.stdout, "4");
  const bad = await nc.request(EXECUTE_SUBJECT, JSON.stringify({ runtime: "nodejs" }), { timeout: 30_000 });
  assert.equal(bad.headers?.get(HEADERS.errorCode), "INVALID_ARGUMENT");
  assert.equal(bad.json<any>().error.field, "code");
});

test("past its burst a client address gets 429 with Retry-After (and the refusal runs nothing)", async () => {
  const strict = await startGateway(
    loadGatewayConfig({ WEFT_NATS_URL: fabric.nats.url, WEFT_HTTP_PORT: "0", WEFT_GRPC_PORT: "0", WEFT_EXECUTE_RATE: "0.05", WEFT_EXECUTE_BURST: "2" }),
    testLogger("strict-gateway"),
  );
  try {
    const run = () =>
      fetch(`http://127.0.0.1:${strict.httpPort}/v1/execute`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ runtime: "python3", code: "pass" }) });
    assert.equal((await run()).status, 200);
    assert.equal((await run()).status, 200);
    const refused = await run();
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    assert.ok(retryAfter >= 1 && retryAfter <= 20, `Retry-After ${retryAfter}`);
    assert.equal(((await refused.json()) as any).error.code, "RESOURCE_EXHAUSTED");
  } finally {
    await strict.stop();
  }
});
