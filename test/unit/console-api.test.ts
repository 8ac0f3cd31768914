// The pure parts of the routes the console uses: history cursors, metrics steps and buckets, the live
// stream's changes, and which encoding the console's files are sent in.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { matches, newestFirst } from "../../controller/invocation-query.js";
import { seriesOf, windowSteps } from "../../controller/metrics-series.js";
import { addOutcome, emptySummary, type Outcome, type OutcomeSummary } from "../../controller/metrics.js";
import type { InvocationRecord } from "../../shared/schemas/invocation.js";
import { preferredEncoding } from "../../gateway/console-assets.js";
import { changeOf } from "../../gateway/invocation-feed.js";
import { InvocationListQuery, formatCursor, parseCursor } from "../../shared/schemas/invocation-list.js";
import { MAX_METRICS_BUCKETS, stepFor } from "../../shared/schemas/metrics-series.js";
import { finalEvent } from "../fixtures/record-events.js";

describe("history cursor", () => {
  test("a page's next value, a time in ms and an ISO time all parse", () => {
    assert.deepEqual(parseCursor(formatCursor({ at: 1700000000123, id: "a_b-c" })), { at: 1700000000123, id: "a_b-c" });
    assert.deepEqual(parseCursor("1700000000123"), { at: 1700000000123 });
    assert.deepEqual(parseCursor("2026-01-02T03:04:05.006Z"), { at: Date.parse("2026-01-02T03:04:05.006Z") });
  });

  test("anything else is refused, and the query names the parameter", () => {
    for (const bad of ["yesterday", "", "_x", "12_", "2026-13-45T99:99:99Z"]) assert.equal(parseCursor(bad), undefined, bad);
    const parsed = InvocationListQuery.safeParse({ before: "yesterday" });
    assert.ok(!parsed.success);
    assert.deepEqual(parsed.error.issues[0]?.path, ["before"]);
  });

  test("ordering is newest first, then by id descending", () => {
    const sorted = [{ at: 1, id: "a" }, { at: 2, id: "a" }, { at: 2, id: "b" }, { at: 1, id: "c" }].sort(newestFirst);
    assert.deepEqual(sorted, [{ at: 2, id: "b" }, { at: 2, id: "a" }, { at: 1, id: "c" }, { at: 1, id: "a" }]);
  });

  test("a record matches by status, time bounds and cursor; the cursor takes lower ids of its own millisecond", () => {
    const rec = (at: number, id: string, status: InvocationRecord["status"] = "ok"): InvocationRecord => ({
      invocationId: id,
      functionName: "fn",
      status,
      enqueuedAt: new Date(at).toISOString(),
    });
    assert.ok(matches({}, rec(5, "m")));
    assert.ok(!matches({ status: "error" }, rec(5, "m")));
    assert.ok(matches({ status: "running" }, rec(5, "m", "running")));
    assert.ok(!matches({ since: 6 }, rec(5, "m")));
    assert.ok(matches({ since: 5 }, rec(5, "m")));
    assert.ok(matches({ before: { at: 5, id: "n" } }, rec(5, "m")), "same ms, lower id");
    assert.ok(!matches({ before: { at: 5, id: "m" } }, rec(5, "m")), "the cursor's own record is on the page before");
    assert.ok(!matches({ before: { at: 5 } }, rec(5, "m")), "a time alone: strictly before");
    assert.ok(matches({ before: { at: 6 } }, rec(5, "m")));
  });
});

describe("metrics steps", () => {
  test("a minute per step up to two hours, longer steps beyond, never more than the maximum", () => {
    assert.equal(stepFor(15 * 60_000), 60_000);
    assert.equal(stepFor(3600_000), 60_000);
    assert.equal(stepFor(24 * 3600_000), 12 * 60_000);
    for (const w of [60_000, 3600_000, 24 * 3600_000, 30 * 24 * 3600_000]) assert.ok(Math.ceil(w / stepFor(w)) <= MAX_METRICS_BUCKETS);
  });

  test("the window's steps end with the one holding now", () => {
    const now = Date.UTC(2026, 0, 1, 12, 30, 15);
    const { from, stepMs, steps } = windowSteps(15 * 60_000, now);
    assert.equal(steps, 15);
    assert.equal(from + steps * stepMs, Date.UTC(2026, 0, 1, 12, 31));
    assert.ok(from + (steps - 1) * stepMs <= now && now < from + steps * stepMs);
  });

  test("minutes land in their step; totals, failures, cold starts, percentiles and lines per function add up", () => {
    const minute = (...outcomes: Outcome[]): OutcomeSummary => {
      const s = emptySummary();
      for (const o of outcomes) addOutcome(s, o);
      return s;
    };
    const w = { from: 0, stepMs: 120_000, steps: 3 };
    const { buckets, totals, functions } = seriesOf(
      [
        {
          functionName: "a",
          minutes: new Map([
            [0, minute({ status: "ok", coldStart: true, durationMs: 10 })],
            [60_000, minute({ status: "error", durationMs: 30 })],
          ]),
        },
        {
          functionName: "b",
          minutes: new Map([
            [240_000, minute({ status: "timeout", durationMs: 100 })],
            [999_999_000, minute({ status: "ok", durationMs: 1 })], // outside the window
          ]),
        },
      ],
      w,
    );
    assert.deepEqual(buckets.map((b) => [b.t, b.count, b.failed, b.coldStarts]), [[0, 2, 1, 1], [120_000, 0, 0, 0], [240_000, 1, 1, 0]]);
    assert.ok(Math.abs(buckets[0]!.p50! - 10) <= 0.1 && Math.abs(buckets[0]!.p99! - 30) <= 0.3, JSON.stringify(buckets[0]));
    assert.equal(buckets[1]!.p50, null);
    assert.equal(totals.count, 3);
    assert.equal(totals.failed, 2);
    assert.equal(totals.coldStarts, 1);
    assert.deepEqual(functions.map((f) => [f.functionName, f.count, f.failed]), [["a", 2, 1], ["b", 1, 1]]);
    assert.equal(functions[0]!.lastInvokedAt, new Date(60_000).toISOString());
  });
});

describe("live stream changes", () => {
  const bytes = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

  test("a final record becomes a change without its payloads", () => {
    const ev = finalEvent("fn", { output: JSON.stringify({ big: "x".repeat(100) }), logs: "printed", event: "{}" });
    const change = changeOf(bytes({ ...ev, incarnation: "i1" }))!.change;
    assert.equal(changeOf(bytes({ ...ev, incarnation: "i1" }))!.incarnation, "i1");
    assert.equal(change.status, "ok");
    assert.equal(change.enqueuedAt, new Date(ev.enqueuedAt).toISOString());
    assert.equal(change.finishedAt, new Date(ev.finishedAt!).toISOString());
    for (const k of ["output", "logs", "event"]) assert.ok(!(k in change), k);
  });

  test("queued and running phases are changes of that status; junk is skipped", () => {
    assert.equal(changeOf(bytes({ invocationId: "i", functionName: "fn", phase: "queued", enqueuedAt: 1, async: true }))?.change.status, "queued");
    assert.equal(changeOf(bytes({ invocationId: "i", functionName: "fn", phase: "running", enqueuedAt: 1, startedAt: 2 }))?.change.status, "running");
    assert.equal(changeOf(bytes("not json")), undefined);
    assert.equal(changeOf(bytes({ phase: "final" })), undefined);
  });
});

describe("content encoding of the console's files", () => {
  test("brotli first, then gzip, honouring q=0 and *", () => {
    assert.equal(preferredEncoding("gzip, deflate, br"), "br");
    assert.equal(preferredEncoding("gzip"), "gzip");
    assert.equal(preferredEncoding("br;q=0, gzip;q=0.5"), "gzip");
    assert.equal(preferredEncoding("*"), "br");
    assert.equal(preferredEncoding("*, br;q=0"), "gzip");
    assert.equal(preferredEncoding("identity"), undefined);
    assert.equal(preferredEncoding(undefined), undefined);
  });
});
