// GET /v1/functions/{name}/logs on the real fabric: recent lines with invocation id and time, its filters (since,
// status, limit) and their malformed forms (400 naming the field), the follow stream (Server-Sent Events on the live
// streams' one shared subscription), and that followers leave nothing behind when they disconnect.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { eventually, http, startFabric, testLogger, type Fabric } from "./harness/fabric.js";
import { until } from "./harness/eventually.js";
import { openSse, type SseStream } from "./console/sse.js";
import { InvocationFeed } from "../gateway/invocation-feed.js";
import { recordSubject } from "../shared/subjects.js";

const CODE = `def handler(event, context):
    for i in range(event.get("lines", 2)):
        print("line", i, "of", event.get("tag"))
    if event.get("fail"):
        raise ValueError("asked to")
    return event.get("tag")
`;
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

let fabric: Fabric;

before(async () => {
  fabric = await startFabric({ agentEnv: { WEFT_STEM_RUNTIMES: "python3", WEFT_STEM_ISOLATIONS: "runc" } });
});

after(async () => {
  await fabric?.stop();
});

async function deploy(name: string): Promise<void> {
  const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "python3", code: CODE });
  assert.ok(res.status === 201 || res.status === 200, JSON.stringify(res.body));
}

async function invoke(name: string, event: unknown): Promise<{ invocationId: string; status: string }> {
  const res = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, event);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

const logs = (name: string, query = "") => http(fabric.httpUrl, "GET", `/v1/functions/${name}/logs${query}`);

function expectError(res: { status: number; body: any }, status: number, field?: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  if (field) assert.equal(res.body.error.field, field, JSON.stringify(res.body));
}

describe("GET /v1/functions/{name}/logs", () => {
  test("recent lines, oldest first, with invocation id, version, status and time; since, status and limit filter them", async () => {
    const name = uniqueName("logs");
    await deploy(name);
    const first = await invoke(name, { tag: "a" });
    const failed = await invoke(name, { tag: "b", fail: true });
    const third = await invoke(name, { tag: "c", lines: 3 });
    assert.equal(failed.status, "error");

    const all = await eventually(async () => {
      const res = await logs(name);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.lines.some((l: any) => l.invocationId === third.invocationId) ? res.body : undefined;
    }, "the third invocation's lines");
    // The error's traceback is logged too: pick out the handler's own lines.
    const own = all.lines.filter((l: any) => l.line.startsWith("line "));
    assert.deepEqual(own.map((l: any) => l.line), ["line 0 of a", "line 1 of a", "line 0 of b", "line 1 of b", "line 0 of c", "line 1 of c", "line 2 of c"]);
    assert.equal(own[0].invocationId, first.invocationId);
    assert.equal(own[0].status, "ok");
    assert.equal(own[0].version, 1);
    assert.equal(own[2].invocationId, failed.invocationId);
    assert.equal(own[2].status, "error");
    for (const l of all.lines) assert.ok(Math.abs(Date.parse(l.time) - Date.now()) < 120_000, `a recent ISO time: ${l.time}`);

    const errors = (await logs(name, "?status=error")).body.lines;
    assert.ok(errors.length >= 2 && errors.every((l: any) => l.invocationId === failed.invocationId), JSON.stringify(errors));
    const newest = (await logs(name, "?limit=2")).body.lines;
    assert.deepEqual(newest.map((l: any) => l.line), ["line 1 of c", "line 2 of c"]);
    assert.equal((await logs(name, "?since=10m")).body.lines.length, all.lines.length);
    assert.equal((await logs(name, `?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body.lines.length, 0);
    assert.equal((await logs(name, "?since=2020-01-01T00:00:00Z")).body.lines.length, all.lines.length);
  });

  test("malformed since, status, limit and follow are 400 naming the field; an unknown function is 404", async () => {
    const name = uniqueName("logs-bad");
    await deploy(name);
    for (const since of ["10", "ten minutes", "-5m", "10y", "31d", "2026-13-45T00:00:00Z", "2026-12-01", "1e3s", "x".repeat(100)]) {
      expectError(await logs(name, `?since=${encodeURIComponent(since)}`), 400, "since");
    }
    for (const status of ["done", "queued", "running", "OK", ""]) expectError(await logs(name, `?status=${status}`), 400, "status");
    for (const limit of ["0", "-1", "1001", "1.5", "ten", "1e2", ""]) expectError(await logs(name, `?limit=${limit}`), 400, "limit");
    expectError(await logs(name, "?follow=maybe"), 400, "follow");
    expectError(await logs(name, "?follow=true&since=10m"), 400, "since");
    expectError(await logs(name, "?follow=true&limit=5"), 400, "limit");
    expectError(await logs("Not_A_Name"), 400, "name");
    expectError(await logs(uniqueName("never")), 404);
    expectError(await logs(uniqueName("never"), "?follow=true"), 404);
    // And the live stream of invocations, its sibling on the same subscription: its query is checked the same way.
    expectError(await http(fabric.httpUrl, "GET", "/v1/invocations/live?status=finished"), 400, "status");
    expectError(await http(fabric.httpUrl, "GET", "/v1/invocations/live?function=Bad Name"), 400, "function");
    expectError(await http(fabric.httpUrl, "GET", `/v1/invocations/live?function=${"a".repeat(64)}`), 400, "function");
    assert.equal((await http(fabric.httpUrl, "GET", "/healthz")).status, 200, "the gateway still serves");
  });

  test("?follow=true streams each new invocation's lines as it finishes; many followers get each one; a status filter holds", async () => {
    const name = uniqueName("logs-follow");
    await deploy(name);
    const streams: SseStream[] = [];
    try {
      for (let i = 0; i < 20; i++) streams.push(await openSse(`${fabric.httpUrl}/v1/functions/${name}/logs?follow=true`));
      const errorsOnly = await openSse(`${fabric.httpUrl}/v1/functions/${name}/logs?follow=true&status=error`);
      streams.push(errorsOnly);
      for (const s of streams) {
        assert.equal(s.status, 200);
        assert.match(s.contentType ?? "", /^text\/event-stream/);
      }
      const ok = await invoke(name, { tag: "live", lines: 2 });
      const failed = await invoke(name, { tag: "bad", fail: true, lines: 1 });
      for (const s of streams.slice(0, 20)) {
        const event = await s.next((e) => e.event === "logs" && e.data.includes(ok.invocationId), 5000);
        const { lines } = JSON.parse(event.data);
        assert.deepEqual(lines.map((l: any) => l.line), ["line 0 of live", "line 1 of live"]);
        assert.equal(lines[0].invocationId, ok.invocationId);
        assert.equal(lines[0].status, "ok");
        assert.ok(Date.parse(lines[0].time) > 0);
      }
      const bad = await errorsOnly.next((e) => e.event === "logs" && e.data.includes(failed.invocationId), 5000);
      assert.equal(JSON.parse(bad.data).lines[0].line, "line 0 of bad");
      assert.ok(!errorsOnly.seen.some((e) => e.data.includes(ok.invocationId)), "the ok invocation is filtered out");
    } finally {
      for (const s of streams) s.close();
    }
    // Disconnected followers cost nothing: the next call is answered, and a new follower is served.
    await invoke(name, { tag: "after" });
    const again = await openSse(`${fabric.httpUrl}/v1/functions/${name}/logs?follow=true`);
    try {
      const next = await invoke(name, { tag: "again" });
      await again.next((e) => e.event === "logs" && e.data.includes(next.invocationId), 5000);
    } finally {
      again.close();
    }
  });
});

describe("the follow stream's fan-out (InvocationFeed on a real nats-server)", () => {
  let nc: NatsConnection;
  let server: Server;
  let feed: InvocationFeed;
  let url: string;
  const live = new Set<string>();

  before(async () => {
    nc = await connect({ servers: fabric.nats.url });
    feed = new InvocationFeed(nc, (name) => live.has(name), testLogger("feed"));
    server = createServer((req, res) => {
      const q = new URL(req.url ?? "/", "http://x").searchParams;
      void feed.follow(res, { functionName: q.get("function") ?? undefined, status: (q.get("status") ?? undefined) as never }, "logs");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  after(async () => {
    feed?.stop();
    server?.closeAllConnections();
    server?.close();
    await nc?.close();
  });

  const final = (fn: string, id: string, extra: Record<string, unknown> = {}) => ({
    invocationId: id, functionName: fn, phase: "final", enqueuedAt: Date.now(), version: 2, status: "ok", logs: "one\ntwo\n", finishedAt: Date.now(), ...extra,
  });

  test("one parse per record for every follower; other functions, other phases, deleted functions, empty logs and garbage are skipped; disconnects drop the followers", async () => {
    const fn = uniqueName("fan");
    live.add(fn);
    live.add(`${fn}-other`);
    const streams = await Promise.all(Array.from({ length: 50 }, () => openSse(`${url}?function=${fn}`)));
    await until(() => feed.size === 50, "50 followers");
    nc.publish(recordSubject(fn), "{not json");
    nc.publish(recordSubject(fn), new Uint8Array([0xff, 0xfe, 0x00]));
    nc.publish(recordSubject(fn), JSON.stringify({ phase: "final" }));
    nc.publish(recordSubject(fn), JSON.stringify({ ...final(fn, "running-1"), phase: "running", status: undefined }));
    nc.publish(recordSubject(fn), JSON.stringify(final(fn, "quiet-1", { logs: "" })));
    nc.publish(recordSubject(`${fn}-other`), JSON.stringify(final(`${fn}-other`, "other-1")));
    nc.publish(recordSubject(`${fn}-gone`), JSON.stringify(final(fn, "gone-1", { functionName: `${fn}-gone` })));
    nc.publish(recordSubject(fn), JSON.stringify(final(fn, "wanted-1")));
    for (const s of streams) {
      const e = await s.next((ev) => ev.event === "logs");
      assert.deepEqual(JSON.parse(e.data).lines.map((l: any) => [l.invocationId, l.version, l.status, l.line]), [["wanted-1", 2, "ok", "one"], ["wanted-1", 2, "ok", "two"]]);
      assert.equal(s.seen.filter((ev) => ev.event === "logs").length, 1, "only the wanted record, once");
    }
    for (const s of streams) s.close();
    await until(() => feed.size === 0, "every follower gone after its client left");
  });
});
