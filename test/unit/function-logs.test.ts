// The pure parts of GET /v1/functions/{name}/logs: `since` in both its forms, and an invocation's logs as lines.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LogsQuery, MAX_SINCE_MS, linesOf, parseSince } from "../../shared/schemas/function-logs.js";

const NOW = Date.parse("2026-12-01T12:00:00Z");

test("since: a duration back from now, or an RFC 3339 time; anything else is refused", () => {
  assert.equal(parseSince("10m", NOW), NOW - 600_000);
  assert.equal(parseSince("90s", NOW), NOW - 90_000);
  assert.equal(parseSince("1500ms", NOW), NOW - 1500);
  assert.equal(parseSince("2d", NOW), NOW - 2 * 86_400_000);
  assert.equal(parseSince("30d", NOW), NOW - MAX_SINCE_MS);
  assert.equal(parseSince("2026-12-01T10:00:00Z", NOW), Date.parse("2026-12-01T10:00:00Z"));
  assert.equal(parseSince("2026-12-01T10:00:00.250+01:00", NOW), Date.parse("2026-12-01T09:00:00.250Z"));
  for (const bad of ["31d", "10", "10 m", "m", "-5m", "1.5h", "1e3s", "2026-12-01", "2026-13-01T00:00:00Z", "2026-12-01T10:00:00", "yesterday", ""]) {
    assert.equal(parseSince(bad, NOW), undefined, bad);
  }
});

test("the query schema names each bad field", () => {
  const field = (q: Record<string, string>) => {
    const r = LogsQuery.safeParse(q);
    return r.success ? undefined : r.error.issues[0]?.path[0];
  };
  assert.equal(field({ since: "soon" }), "since");
  assert.equal(field({ status: "running" }), "status");
  assert.equal(field({ limit: "0" }), "limit");
  assert.equal(field({ limit: "1001" }), "limit");
  assert.equal(field({ follow: "yes" }), "follow");
  assert.deepEqual(LogsQuery.parse({ since: "10m", status: "error", limit: "5", follow: "" }), { since: "10m", status: "error", limit: 5, follow: true });
});

test("an invocation's logs become its lines, each with id, version, status and time; a trailing newline adds no line", () => {
  const r = { invocationId: "i1", version: 3, status: "error" as const, finishedAt: "2026-12-01T12:00:00.000Z" };
  assert.deepEqual(linesOf({ ...r, logs: "a\n\nb\n" }).map((l) => l.line), ["a", "", "b"]);
  assert.deepEqual(linesOf({ ...r, logs: "no newline" })[0], { time: r.finishedAt, invocationId: "i1", version: 3, status: "error", line: "no newline" });
  assert.deepEqual(linesOf({ ...r, logs: "" }), []);
  assert.deepEqual(linesOf({ ...r, logs: undefined }), []);
});
