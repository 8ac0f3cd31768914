// The HTTP routes the web console uses beside the original API, on the real fabric: agents from their
// heartbeats, a function's versions, the invocation history across functions (filters, paging) and its live
// stream, metrics over time, and the console's files served at / (content types, compression, caching).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:http";
import { randomBytes } from "node:crypto";
import { brotliDecompressSync, gunzipSync, gzipSync } from "node:zlib";
import { eventually, http, startFabric, type Fabric } from "../harness/fabric.js";
import { openSse } from "./sse.js";

const CODE = `exports.handler = async (e) => {
  await new Promise((r) => setTimeout(r, e.ms || 0));
  if (e.fail) throw new Error("boom");
  return { echo: e };
};
`;
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

let fabric: Fabric;
let consoleDir: string;
const INDEX = `<!doctype html><html><head><title>console</title></head><body>${"<p>weft</p>".repeat(100)}</body></html>`;
const SCRIPT = `console.log(${JSON.stringify("x".repeat(4000))});`;

before(async () => {
  consoleDir = mkdtempSync(join(tmpdir(), "weft-console-"));
  mkdirSync(join(consoleDir, "assets"));
  writeFileSync(join(consoleDir, "index.html"), INDEX);
  writeFileSync(join(consoleDir, "assets", "main-abc123.js"), SCRIPT);
  writeFileSync(join(consoleDir, "favicon.svg"), `<svg xmlns="http://www.w3.org/2000/svg"/>`);
  // A file with the build's compressed copy beside it (clients/console/build.ts writes those).
  writeFileSync(join(consoleDir, "assets", "pre-abc123.js"), SCRIPT);
  writeFileSync(join(consoleDir, "assets", "pre-abc123.js.gz"), gzipSync("the build's copy"));
  fabric = await startFabric({
    agentEnv: { WEFT_STEM_RUNTIMES: "nodejs", WEFT_STEM_ISOLATIONS: "runc" },
    gatewayEnv: { WEFT_CONSOLE_DIR: consoleDir },
  });
});

after(async () => {
  await fabric?.stop();
  rmSync(consoleDir, { recursive: true, force: true });
});

async function deploy(name: string, code = CODE): Promise<any> {
  const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code });
  assert.ok(res.status === 200 || res.status === 201, JSON.stringify(res.body));
  return res.body;
}

async function invoke(name: string, event: unknown, query = ""): Promise<any> {
  const res = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke${query}`, event);
  assert.ok(res.status === 200 || res.status === 202, JSON.stringify(res.body));
  return res.body;
}

function expectError(res: { status: number; body: any }, status: number, field?: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.ok(res.body.error.code, JSON.stringify(res.body));
  if (field) assert.equal(res.body.error.field, field, JSON.stringify(res.body));
}

describe("agents", () => {
  test("GET /v1/agents lists the live agent with its slots, memory and pools; GET /v1/agents/{id} shows one", async () => {
    const id = fabric.agent.agentId;
    const withPools = await eventually(async () => {
      const res = await http(fabric.httpUrl, "GET", "/v1/agents");
      assert.equal(res.status, 200);
      const agent = res.body.agents.find((a: any) => a.agentId === id);
      return agent?.pools?.some((p: any) => p.stemCells > 0) ? agent : undefined;
    }, "the agent's heartbeat with a ready stem cell");
    assert.equal(withPools.state, "running");
    assert.equal(typeof withPools.slots, "number");
    assert.ok(withPools.memoryMb.total > 0, JSON.stringify(withPools));
    assert.ok(withPools.lastSeenMs >= 0);
    assert.deepEqual(
      withPools.pools.map((p: any) => `${p.runtime}/${p.isolation}`),
      ["nodejs20/runc"],
      "stem cells only for the runtimes and isolations configured",
    );
    const one = await http(fabric.httpUrl, "GET", `/v1/agents/${encodeURIComponent(id)}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.agentId, id);
    expectError(await http(fabric.httpUrl, "GET", "/v1/agents/no-such-agent"), 404);
  });
});

describe("versions", () => {
  test("GET /v1/functions/{name}/versions lists every version newest first, without code", async () => {
    const name = uniqueName("ver");
    await deploy(name);
    await deploy(name, CODE.replace("echo", "again"));
    const res = await http(fabric.httpUrl, "GET", `/v1/functions/${name}/versions`);
    assert.equal(res.status, 200);
    assert.equal(res.body.name, name);
    assert.equal(res.body.latestVersion, 2);
    assert.deepEqual(res.body.versions.map((v: any) => v.version), [2, 1]);
    for (const v of res.body.versions) {
      assert.equal(v.code, undefined, "no code in the list");
      assert.ok(v.codeSha256 && v.createdAt && v.codeBytes > 0, JSON.stringify(v));
    }
    expectError(await http(fabric.httpUrl, "GET", `/v1/functions/${uniqueName("none")}/versions`), 404);
    expectError(await http(fabric.httpUrl, "GET", `/v1/functions/Bad_Name/versions`), 400, "name");
  });
});

describe("history", () => {
  test("GET /v1/invocations: newest first across functions, by function and status, paged without gaps or repeats", async () => {
    const a = uniqueName("hist-a");
    const b = uniqueName("hist-b");
    await Promise.all([deploy(a), deploy(b)]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await invoke(a, { i })).invocationId);
    const failed = (await invoke(b, { fail: true })).invocationId;
    const queued = (await invoke(a, { i: 5 }, "?async=true")).invocationId;
    await eventually(async () => {
      const res = await http(fabric.httpUrl, "GET", `/v1/invocations?function=${a}&limit=50`);
      return res.body.invocations.length === 6 && res.body.invocations.every((r: any) => r.status === "ok") ? true : undefined;
    }, "six finished records of a");

    const all = await http(fabric.httpUrl, "GET", "/v1/invocations?limit=50");
    assert.equal(all.status, 200);
    const mine = all.body.invocations.filter((r: any) => r.functionName === a || r.functionName === b);
    assert.equal(mine[0].invocationId, queued, "newest first");
    assert.ok(mine.some((r: any) => r.invocationId === failed));
    const times = all.body.invocations.map((r: any) => Date.parse(r.enqueuedAt));
    assert.deepEqual(times, [...times].sort((x, y) => y - x));

    const errors = await http(fabric.httpUrl, "GET", `/v1/invocations?status=error&function=${b}`);
    assert.deepEqual(errors.body.invocations.map((r: any) => r.invocationId), [failed]);
    assert.equal(errors.body.invocations[0].error.code, "HANDLER_ERROR");
    assert.equal(errors.body.next, undefined, "one page");

    const paged: string[] = [];
    let next: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await http(fabric.httpUrl, "GET", `/v1/invocations?function=${a}&limit=2${next ? `&before=${next}` : ""}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.ok(res.body.invocations.length <= 2);
      paged.push(...res.body.invocations.map((r: any) => r.invocationId));
      next = res.body.next;
      if (!next) break;
    }
    assert.deepEqual(new Set(paged), new Set([...ids, queued]));
    assert.equal(paged.length, 6, "no record twice");

    const before = await http(fabric.httpUrl, "GET", `/v1/invocations?function=${a}&before=${encodeURIComponent(new Date(0).toISOString())}`);
    assert.deepEqual(before.body.invocations, []);
  });

  test("GET /v1/invocations?status=running finds an invocation still running", async () => {
    const name = uniqueName("hist-run");
    await deploy(name);
    const { invocationId } = await invoke(name, { ms: 4000 }, "?async=true");
    const running = await eventually(async () => {
      const res = await http(fabric.httpUrl, "GET", `/v1/invocations?status=running&function=${name}`);
      return res.body.invocations.find((r: any) => r.invocationId === invocationId);
    }, "the running record", 10_000);
    assert.equal(running.status, "running");
    assert.ok(running.startedAt);
  });

  test("a deleted function's records leave the history and the metrics, even under a function created again with its name", async () => {
    const name = uniqueName("hist-del");
    await deploy(name);
    const old = (await invoke(name, { life: 1 })).invocationId;
    const ids = async (path: string) => ((await http(fabric.httpUrl, "GET", path)).body.invocations ?? []).map((r: any) => r.invocationId);
    await eventually(async () => ((await ids(`/v1/invocations?function=${name}`)).includes(old) ? true : undefined), "the first life's record");
    assert.equal((await http(fabric.httpUrl, "DELETE", `/v1/functions/${name}`)).status, 200);
    expectError(await http(fabric.httpUrl, "GET", `/v1/invocations?function=${name}`), 404);
    assert.ok(!(await ids("/v1/invocations?limit=1000")).includes(old), "not in the history across functions");

    await deploy(name);
    const fresh = (await invoke(name, { life: 2 })).invocationId;
    const mine = await eventually(async () => {
      const list = await ids(`/v1/invocations?function=${name}`);
      return list.includes(fresh) ? list : undefined;
    }, "the second life's record");
    assert.deepEqual(mine, [fresh]);
    const series = await http(fabric.httpUrl, "GET", `/v1/functions/${name}/metrics/series?windowMs=900000`);
    assert.equal(series.body.totals.count, 1);
    const line = (await http(fabric.httpUrl, "GET", "/v1/metrics?windowMs=900000")).body.functions.find((f: any) => f.functionName === name);
    assert.equal(line.count, 1);
  });

  test("bad queries name their parameter", async () => {
    expectError(await http(fabric.httpUrl, "GET", "/v1/invocations?status=done"), 400, "status");
    expectError(await http(fabric.httpUrl, "GET", "/v1/invocations?limit=0"), 400, "limit");
    expectError(await http(fabric.httpUrl, "GET", "/v1/invocations?limit=1e3"), 400, "limit");
    expectError(await http(fabric.httpUrl, "GET", "/v1/invocations?before=yesterday"), 400, "before");
    expectError(await http(fabric.httpUrl, "GET", "/v1/invocations?since=1_abc"), 400, "since");
    expectError(await http(fabric.httpUrl, "GET", "/v1/invocations?function=Nope"), 400, "function");
    expectError(await http(fabric.httpUrl, "GET", "/v1/invocations/live?status=done"), 400, "status");
    expectError(await http(fabric.httpUrl, "GET", "/v1/invocations/live?function=Nope"), 400, "function");
    expectError(await http(fabric.httpUrl, "GET", `/v1/invocations?function=${uniqueName("never")}`), 404);
  });
});

describe("live stream", () => {
  test("GET /v1/invocations/live streams invocations of any caller as they happen, filtered by function", async () => {
    const name = uniqueName("live");
    const other = uniqueName("live-other");
    await Promise.all([deploy(name), deploy(other)]);
    const stream = await openSse(`${fabric.httpUrl}/v1/invocations/live?function=${name}`);
    try {
      assert.equal(stream.status, 200);
      assert.match(stream.contentType ?? "", /^text\/event-stream/);
      await invoke(other, { i: 1 });
      const { invocationId } = await invoke(name, { hello: "live" });
      // Within 2 s of the call's answer (a slow call may first stream as running).
      const event = await stream.next((e) => e.event === "invocation" && JSON.parse(e.data).invocationId === invocationId && JSON.parse(e.data).status === "ok", 2000);
      const change = JSON.parse(event.data);
      assert.equal(change.functionName, name);
      assert.equal(typeof change.durationMs, "number");
      assert.equal(change.output, undefined, "payloads stay out of the stream");
      assert.ok(!stream.seen.some((e) => e.data.includes(other)), "another function's invocation is filtered out");

      const asyncCall = await invoke(name, { ms: 10 }, "?async=true");
      const queued = await stream.next((e) => JSON.parse(e.data).invocationId === asyncCall.invocationId && JSON.parse(e.data).status === "queued");
      assert.equal(JSON.parse(queued.data).async, true);
      await stream.next((e) => JSON.parse(e.data).invocationId === asyncCall.invocationId && JSON.parse(e.data).status === "ok");
    } finally {
      stream.close();
    }
  });
});

describe("metrics over time", () => {
  test("GET /v1/metrics and /v1/functions/{name}/metrics/series: steps, totals, a line per function", async () => {
    const name = uniqueName("met");
    await deploy(name);
    for (let i = 0; i < 3; i++) await invoke(name, { i });
    await invoke(name, { fail: true });
    const series = await eventually(async () => {
      const res = await http(fabric.httpUrl, "GET", `/v1/functions/${name}/metrics/series?windowMs=900000`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.totals.count === 4 ? res.body : undefined;
    }, "four finished records");
    assert.equal(series.functionName, name);
    assert.equal(series.stepMs, 60_000);
    assert.equal(series.buckets.length, 15);
    assert.equal(series.totals.failed, 1);
    assert.equal(series.totals.coldStarts >= 1, true);
    assert.ok(series.totals.durationMs.p50 > 0);
    assert.equal(series.buckets.reduce((n: number, b: any) => n + b.count, 0), 4);
    const last = series.buckets[series.buckets.length - 1];
    assert.ok(last.t <= Date.now() && Date.now() < last.t + series.stepMs, "the last step holds now");

    const fabricWide = await http(fabric.httpUrl, "GET", "/v1/metrics?windowMs=3600000");
    assert.equal(fabricWide.status, 200);
    assert.equal(fabricWide.body.buckets.length, 60);
    const line = fabricWide.body.functions.find((f: any) => f.functionName === name);
    assert.equal(line.count, 4);
    assert.equal(line.failed, 1);
    assert.ok(Date.parse(line.lastInvokedAt) <= Date.now());
    assert.ok(fabricWide.body.totals.count >= 4);

    expectError(await http(fabric.httpUrl, "GET", "/v1/metrics?windowMs=5"), 400, "windowMs");
    expectError(await http(fabric.httpUrl, "GET", `/v1/functions/${uniqueName("none")}/metrics/series`), 404);
  });
});

describe("console files", () => {
  async function get(path: string, headers: Record<string, string> = {}, method = "GET") {
    return new Promise<{ status: number; headers: Record<string, any>; body: Buffer }>((resolve, reject) => {
      // The path goes as written: a URL would resolve its dot segments before sending.
      const { hostname, port } = new URL(fabric.httpUrl);
      const req = request({ hostname, port, path, method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on("error", reject);
      req.end();
    });
  }

  test("index.html at / and for the console's pages; assets hashed, compressed and cached for a year", async () => {
    const root = await get("/", { "accept-encoding": "gzip, br" });
    assert.equal(root.status, 200);
    assert.equal(root.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(root.headers["content-encoding"], "br");
    assert.equal(root.headers["cache-control"], "no-cache");
    assert.match(root.headers["content-security-policy"], /default-src 'self'/);
    assert.equal(brotliDecompressSync(root.body).toString(), INDEX);

    const page = await get("/functions/hello");
    assert.equal(page.status, 200);
    assert.equal(page.body.toString(), INDEX, "a console page is index.html (no encoding asked, none given)");

    const js = await get("/assets/main-abc123.js", { "accept-encoding": "gzip" });
    assert.equal(js.status, 200);
    assert.equal(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal(js.headers["content-encoding"], "gzip");
    assert.equal(js.headers["cache-control"], "public, max-age=31536000, immutable");
    assert.ok(js.body.length < SCRIPT.length / 4, "compressed");
    const again = await get("/assets/main-abc123.js", { "if-none-match": js.headers.etag });
    assert.equal(again.status, 304);

    const pre = await get("/assets/pre-abc123.js", { "accept-encoding": "gzip" });
    assert.equal(gunzipSync(pre.body).toString(), "the build's copy", "the build's compressed copy is sent as it is");

    const icon = await get("/favicon.svg");
    assert.equal(icon.headers["content-type"], "image/svg+xml");
    const head = await get("/", {}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  test("missing files, traversal and unknown API paths are 404; API routes keep their answers", async () => {
    for (const path of ["/assets/missing-123.js", "/nope.png", "/..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd", "/../../etc/passwd"]) {
      const res = await get(path);
      assert.equal(res.status, 404, path);
      assert.equal(JSON.parse(res.body.toString()).error.code, "NOT_FOUND");
    }
    const api = await get("/v1/nothing-here");
    assert.equal(api.status, 404);
    assert.equal(api.headers["content-type"], "application/json");
    assert.equal((await get("/healthz")).headers["content-type"], "application/json");
    const post = await http(fabric.httpUrl, "POST", "/", {});
    assert.equal(post.status, 404);
  });
});
