// GET /openapi.json against the real fabric (gateway, controller, agent): the document lists exactly the routes the
// gateway serves, and real responses of every operation, successes and errors, validate against it (ajv, JSON Schema
// 2020-12, OpenAPI 3.1's dialect). GET /docs renders it from files the gateway serves itself.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Ajv2020 } from "ajv/dist/2020.js";
import { LIMITS } from "../shared/limits.js";
import { eventually, startFabric, type Fabric } from "./harness/fabric.js";

let fabric: Fabric;
let doc: any;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
const DOC_ID = "weft-openapi";

before(async () => {
  fabric = await startFabric({ agentEnv: { WEFT_STEM_ISOLATIONS: "runc" } });
  doc = await (await fetch(`${fabric.httpUrl}/openapi.json`)).json();
  ajv.addSchema(doc, DOC_ID);
});

after(async () => {
  await fabric?.stop();
});

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

/** The operation whose path template matches this path. */
function templateOf(method: string, path: string): string {
  const parts = path.split("?")[0]!.split("/");
  const found = Object.keys(doc.paths).find((t) => {
    const tp = t.split("/");
    return tp.length === parts.length && tp.every((seg, i) => seg.startsWith("{") || seg === parts[i]) && doc.paths[t][method.toLowerCase()];
  });
  assert.ok(found, `no operation for ${method} ${path} in the document`);
  return found;
}

interface Seen {
  method: string;
  template: string;
  status: number;
}
const seen: Seen[] = [];

/** Calls the gateway and checks the answer against the document: a documented status, type and body. */
async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(fabric.httpUrl + path, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const template = templateOf(method, path);
  const op = doc.paths[template][method.toLowerCase()];
  let response = op.responses[String(res.status)];
  assert.ok(response, `${method} ${path} answered ${res.status}, which the document does not list for ${template}`);
  let location = pointer("paths", template, method.toLowerCase(), "responses", String(res.status));
  if (response.$ref) {
    location = response.$ref.slice(2);
    response = doc.components.responses[response.$ref.split("/").pop()];
  }
  const [type] = Object.keys(response.content ?? {});
  const contentType = res.headers.get("content-type") ?? "";
  const raw = Buffer.from(await res.arrayBuffer());
  if (type === "application/json") {
    assert.match(contentType, /^application\/json/, `${method} ${path}: content type`);
    const parsed = JSON.parse(raw.toString("utf8"));
    const validate = ajv.getSchema(`${DOC_ID}#/${location}/content/${pointer("application/json")}/schema`);
    assert.ok(validate, `schema for ${location}`);
    assert.ok(validate(parsed), `${method} ${path} → ${res.status}: ${ajv.errorsText(validate.errors)}\n${raw.toString("utf8").slice(0, 400)}`);
    seen.push({ method, template, status: res.status });
    return { status: res.status, body: parsed, headers: res.headers };
  }
  if (type !== "*/*") assert.ok(contentType.startsWith(type!), `${method} ${path}: ${contentType}, documented ${type}`);
  seen.push({ method, template, status: res.status });
  return { status: res.status, body: raw, headers: res.headers };
}

test("the document is OpenAPI 3.1, and lists exactly the routes the gateway serves", () => {
  assert.equal(doc.openapi, "3.1.0");
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${path}`));
  const served = fabric.gateway.httpRoutes.map((r) => `${r.method} ${r.pattern}`);
  assert.deepEqual([...documented].sort(), [...served].sort());
  for (const name of Object.keys(doc.components.schemas)) {
    assert.ok(ajv.getSchema(`${DOC_ID}#/components/schemas/${name}`), `component ${name} compiles`);
  }
  for (const code of ["INVALID_ARGUMENT", "NOT_FOUND", "PAYLOAD_TOO_LARGE", "UNAVAILABLE", "INTERNAL"]) {
    assert.ok(doc.components.responses[code], `the error ${code} is documented`);
  }
});

test("real responses of every operation, successes and errors, validate against the document", async () => {
  const name = `oapi-${randomBytes(3).toString("hex")}`;
  const python = { runtime: "python3", code: "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError('asked to')\n    print('hi')\n    return {'echo': event}\n" };

  assert.ok([200, 503].includes((await call("GET", "/healthz")).status));
  assert.equal((await call("PUT", `/v1/functions/${name}`, python)).status, 201);
  assert.equal((await call("PUT", `/v1/functions/${name}`, { ...python, limits: { timeoutMs: 5000, cpus: 0.5 }, env: { A: "b" }, description: "d" })).status, 200);
  assert.equal((await call("PUT", `/v1/functions/${name}`, { ...python, runtime: "cobol" })).status, 400);
  assert.equal((await call("PUT", `/v1/functions/${name}`, { runtime: "python3", code: "def handler(e, c) return" })).status, 400);
  assert.equal((await call("PUT", `/v1/functions/${name}`, { runtime: "python3", code: "x".repeat(LIMITS.codeBytes + 1) })).status, 413);
  assert.equal((await call("PUT", `/v1/functions/${name}`, "{}", { "content-encoding": "gzip" })).status, 415);
  assert.equal((await call("GET", "/v1/functions")).status, 200);
  assert.equal((await call("GET", `/v1/functions/${name}`)).status, 200);
  assert.equal((await call("GET", `/v1/functions/${name}?version=1`)).status, 200);
  assert.equal((await call("GET", `/v1/functions/${name}?version=99`)).status, 404);
  assert.equal((await call("GET", "/v1/functions/Bad_Name")).status, 400);

  const ok = await call("POST", `/v1/functions/${name}/invoke`, { n: 1 });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.status, "ok", JSON.stringify(ok.body));
  const failed = await call("POST", `/v1/functions/${name}/invoke`, { fail: true });
  assert.equal(failed.body.status, "error");
  const queued = await call("POST", `/v1/functions/${name}/invoke?async=true&version=2`, { n: 2 });
  assert.equal(queued.status, 202);
  assert.equal((await call("POST", `/v1/functions/${name}/invoke`, "{nope")).status, 400);
  assert.equal((await call("POST", `/v1/functions/${name}/invoke`, JSON.stringify({ pad: "x".repeat(LIMITS.payloadBytes) }))).status, 413);
  assert.equal((await call("POST", `/v1/functions/nope-${name}/invoke`, {})).status, 404);

  await eventually(async () => ((await fetch(`${fabric.httpUrl}/v1/invocations/${queued.body.invocationId}`)).status === 200 ? true : undefined), "the queued record");
  assert.equal((await call("GET", `/v1/invocations/${queued.body.invocationId}`)).status, 200);
  await eventually(async () => ((await fetch(`${fabric.httpUrl}/v1/invocations/${failed.body.invocationId}`)).status === 200 ? true : undefined), "the failed call's record");
  assert.equal((await call("GET", `/v1/invocations/${failed.body.invocationId}`)).body.error.code, "HANDLER_ERROR");
  assert.equal((await call("GET", "/v1/invocations/does-not-exist")).status, 404);
  assert.equal((await call("GET", `/v1/invocations/${"x".repeat(200)}`)).status, 400);
  assert.equal((await call("GET", `/v1/functions/${name}/invocations?limit=5`)).status, 200);
  assert.equal((await call("GET", `/v1/functions/${name}/invocations?limit=0`)).status, 400);
  assert.equal((await call("GET", `/v1/functions/${name}/metrics?windowMs=3600000`)).status, 200);
  assert.equal((await call("GET", `/v1/functions/${name}/metrics?windowMs=5`)).status, 400);

  const script = await call("POST", "/v1/execute", { runtime: "python3", code: "import sys\nprint(sys.stdin.read())\nsys.exit(4)", stdin: "in" });
  assert.equal(script.status, 200);
  assert.equal(script.body.error.code, "NONZERO_EXIT");
  assert.equal((await call("POST", "/v1/execute", { runtime: "nodejs", mode: "handler", code: "exports.handler = async (e) => e", event: [1] })).body.status, "ok");
  assert.equal((await call("POST", "/v1/execute", { runtime: "python3", code: "x", limits: { timeoutMs: 1 } })).status, 400);
  await eventually(async () => ((await fetch(`${fabric.httpUrl}/v1/invocations/${script.body.invocationId}`)).status === 200 ? true : undefined), "the execute record");
  assert.equal((await call("GET", `/v1/invocations/${script.body.invocationId}`)).body.kind, "execute");

  // The console's routes (gateway/*-routes.ts).
  const agents = await call("GET", "/v1/agents");
  assert.equal(agents.status, 200);
  assert.equal((await call("GET", `/v1/agents/${encodeURIComponent(agents.body.agents[0].agentId)}`)).status, 200);
  assert.equal((await call("GET", "/v1/agents/nope")).status, 404);
  assert.equal((await call("GET", `/v1/functions/${name}/versions`)).status, 200);
  assert.equal((await call("GET", `/v1/functions/nope-${name}/versions`)).status, 404);
  assert.equal((await call("GET", `/v1/functions/${name}/versions/1/build`)).status, 404); // a single file: nothing built
  assert.equal((await call("GET", `/v1/invocations?function=${name}&limit=2`)).status, 200);
  assert.equal((await call("GET", "/v1/invocations?status=done")).status, 400);
  assert.equal((await call("GET", "/v1/metrics?windowMs=3600000")).status, 200);
  assert.equal((await call("GET", "/v1/metrics?windowMs=5")).status, 400);
  assert.equal((await call("GET", `/v1/functions/${name}/metrics/series`)).status, 200);
  assert.equal((await call("GET", "/v1/invocations/live?status=done")).status, 400);
  // The live stream never ends: its documented status and content type are checked, then it is left.
  const live = new AbortController();
  const stream = await fetch(`${fabric.httpUrl}/v1/invocations/live`, { signal: live.signal });
  assert.equal(stream.status, 200);
  assert.equal(doc.paths["/v1/invocations/live"].get.responses["200"].content["text/event-stream"] !== undefined, true);
  assert.match(stream.headers.get("content-type") ?? "", /^text\/event-stream/);
  live.abort();
  seen.push({ method: "GET", template: "/v1/invocations/live", status: 200 });

  const logs = await call("GET", `/v1/functions/${name}/logs?since=10m&limit=5`);
  assert.equal(logs.status, 200);
  assert.ok(logs.body.lines.length > 0, "the function printed");
  assert.equal((await call("GET", `/v1/functions/${name}/logs?status=queued`)).status, 400);
  assert.equal((await call("GET", `/v1/functions/nope-${name}/logs`)).status, 404);
  const following = new AbortController();
  const logStream = await fetch(`${fabric.httpUrl}/v1/functions/${name}/logs?follow=true`, { signal: following.signal });
  assert.equal(logStream.status, 200);
  assert.ok(doc.paths["/v1/functions/{name}/logs"].get.responses["200"].content["text/event-stream"], "the stream is documented");
  assert.match(logStream.headers.get("content-type") ?? "", /^text\/event-stream/);
  following.abort();

  assert.equal((await call("GET", "/openapi.json")).status, 200);
  assert.equal((await call("GET", "/metrics")).status, 200);
  assert.equal((await call("GET", "/docs")).status, 200);
  assert.equal((await call("GET", "/docs/swagger-ui-bundle.js")).status, 200);
  assert.equal((await call("GET", "/docs/nope.js")).status, 404);

  assert.equal((await call("PUT", `/v1/functions/${name}/aliases/prod`, { version: 1, weights: { "2": 0.1 } })).status, 200);
  assert.equal((await call("PUT", `/v1/functions/${name}/aliases/prod`, { version: 99 })).status, 404);
  assert.equal((await call("PUT", `/v1/functions/${name}/aliases/prod`, { version: 1, weights: { "2": 2 } })).status, 400);
  assert.equal((await call("GET", `/v1/functions/${name}/aliases/prod`)).status, 200);
  assert.equal((await call("GET", `/v1/functions/${name}/aliases`)).status, 200);
  assert.equal((await call("POST", `/v1/functions/${name}/invoke?alias=prod`, { n: 3 })).status, 200);
  assert.equal((await call("DELETE", `/v1/functions/${name}/versions/1`)).status, 409);
  assert.equal((await call("DELETE", `/v1/functions/${name}/aliases/prod`)).status, 200);
  assert.equal((await call("DELETE", `/v1/functions/${name}/aliases/prod`)).status, 404);
  assert.equal((await call("DELETE", `/v1/functions/${name}/versions/1`)).status, 200);
  assert.equal((await call("DELETE", `/v1/functions/${name}/versions/1`)).status, 404);

  // Dead letters (README "Dead letters"): a function that fails at once, without retries.
  const dl = `${name}-dl`;
  assert.equal((await call("PUT", `/v1/functions/${dl}`, { ...python, async: { maxRetries: 0 } })).status, 201);
  assert.equal((await call("PUT", `/v1/functions/${dl}`, { ...python, async: { maxRetries: 3 } })).status, 400);
  const doomed = await call("POST", `/v1/functions/${dl}/invoke?async=true`, { fail: true });
  await eventually(async () => ((await fetch(`${fabric.httpUrl}/v1/functions/${dl}/dead-letters`).then((r) => r.json()) as { deadLetters: unknown[] }).deadLetters.length ? true : undefined), "the dead letter");
  assert.equal((await call("GET", `/v1/functions/${dl}/dead-letters?limit=5`)).status, 200);
  assert.equal((await call("GET", `/v1/functions/${dl}/dead-letters?limit=0`)).status, 400);
  assert.equal((await call("GET", `/v1/functions/${dl}/dead-letters?id=${doomed.body.invocationId}`)).status, 200);
  assert.equal((await call("GET", `/v1/functions/${dl}/dead-letters?id=nope`)).status, 404);
  assert.equal((await call("POST", `/v1/functions/${dl}/dead-letters/redrive`, {})).status, 400);
  assert.equal((await call("POST", `/v1/functions/${dl}/dead-letters/redrive`, { id: "nope" })).status, 404);
  assert.equal((await call("POST", `/v1/functions/${dl}/dead-letters/redrive`, { id: doomed.body.invocationId })).status, 200);
  assert.equal((await call("DELETE", `/v1/functions/${dl}/dead-letters`)).status, 200);
  assert.equal((await call("DELETE", `/v1/functions/${dl}`)).status, 200);

  // Triggers and idempotency keys (gateway/triggers-routes.ts, gateway/idempotency.ts).
  const trigger = `t-${name}`;
  assert.equal((await call("PUT", `/v1/triggers/${trigger}`, { function: name, schedule: "rate(1 hour)", event: { a: 1 } })).status, 201);
  assert.equal((await call("PUT", `/v1/triggers/${trigger}`, { function: name, subject: `oapi.${name}.>` })).status, 200);
  assert.equal((await call("PUT", `/v1/triggers/${trigger}`, { function: name, subject: "weft.x" })).status, 400);
  assert.equal((await call("PUT", `/v1/triggers/${trigger}`, { function: `nope-${name}`, subject: "a" })).status, 404);
  assert.equal((await call("GET", `/v1/triggers/${trigger}`)).status, 200);
  assert.equal((await call("GET", "/v1/triggers/no-such-trigger")).status, 404);
  assert.equal((await call("GET", "/v1/triggers")).status, 200);
  assert.equal((await call("POST", `/v1/triggers/${trigger}/pause`)).status, 200);
  assert.equal((await call("POST", `/v1/triggers/${trigger}/resume`)).status, 200);
  assert.equal((await call("POST", "/v1/triggers/no-such-trigger/pause")).status, 404);
  assert.equal((await call("POST", "/v1/triggers/no-such-trigger/resume")).status, 404);
  assert.equal((await call("DELETE", `/v1/triggers/${trigger}`)).status, 200);
  assert.equal((await call("DELETE", `/v1/triggers/${trigger}`)).status, 404);
  const key = { "idempotency-key": `k-${name}` };
  assert.equal((await call("POST", `/v1/functions/${name}/invoke?async=true`, { k: 1 }, key)).status, 202);
  assert.equal((await call("POST", `/v1/functions/${name}/invoke?async=true`, { k: 2 }, key)).status, 409);

  assert.equal((await call("DELETE", `/v1/functions/${name}`)).status, 200);
  assert.equal((await call("DELETE", `/v1/functions/${name}`)).status, 404);

  const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${path}`));
  const exercised = new Set(seen.map((s) => `${s.method} ${s.template}`));
  assert.deepEqual(operations.filter((o) => !exercised.has(o)), [], "every operation was called");
});

test("GET /docs is a page that loads only files this gateway serves, and forbids anything else", async () => {
  const res = await fetch(`${fabric.httpUrl}/docs`);
  const csp = res.headers.get("content-security-policy") ?? "";
  for (const directive of ["default-src 'self'", "script-src 'self'", "connect-src 'self'"]) assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
  const html = await res.text();
  const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(urls.length >= 3, html);
  for (const url of urls) {
    assert.match(url, /^\/docs\//, `${url} is served by the gateway itself`);
    const file = await fetch(`${fabric.httpUrl}${url}`);
    assert.equal(file.status, 200, url);
  }
  const init = await (await fetch(`${fabric.httpUrl}/docs/init.js`)).text();
  assert.match(init, /url: "\/openapi\.json"/);
  assert.match(init, /validatorUrl: null/, "the renderer's default validator badge would call out to a public service");
});

test("a wrong method on a documented path is 405 with Allow, as the router says", async () => {
  const res = await fetch(`${fabric.httpUrl}/v1/functions/x/invoke`, { method: "GET" });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "POST");
  assert.equal(Object.keys(doc.paths["/v1/functions/{name}/invoke"]).join(), "post");
});
