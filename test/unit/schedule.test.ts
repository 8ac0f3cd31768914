// Schedule triggers' grammar (5-field cron, rate(N unit)) and their tick instants, which every gateway must agree on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { nextTick, parseSchedule, previousTick, type Schedule } from "../../shared/schedule.js";
import { TriggerSpec } from "../../shared/schemas/trigger.js";

const parse = (s: string): Schedule => {
  const r = parseSchedule(s);
  if (!r.ok) throw new Error(r.message);
  return r.schedule;
};
const at = (iso: string) => Date.parse(iso);
const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

test("rate(N unit) ticks on multiples of its period, the same instants on every gateway", () => {
  const s = parse("rate(5 minutes)");
  assert.deepEqual(s, { kind: "rate", periodMs: 300_000 });
  assert.equal(iso(nextTick(s, at("2026-12-01T10:02:00Z"))), "2026-12-01T10:05:00.000Z");
  assert.equal(iso(nextTick(s, at("2026-12-01T10:05:00Z"))), "2026-12-01T10:10:00.000Z", "strictly after");
  assert.deepEqual(parse("rate(1 second)"), { kind: "rate", periodMs: 1000 });
  assert.deepEqual(parse("RATE(2 Hours)"), { kind: "rate", periodMs: 7_200_000 });
  assert.equal(iso(previousTick(s, at("2026-12-01T10:07:00Z"), 600_000)), "2026-12-01T10:05:00.000Z");
  assert.equal(previousTick(s, at("2026-12-01T10:07:00Z"), 60_000), undefined, "outside the catch-up window");
});

test("cron: steps, ranges, lists and names", () => {
  assert.equal(iso(nextTick(parse("*/15 * * * *"), at("2026-12-01T10:02:30Z"))), "2026-12-01T10:15:00.000Z");
  assert.equal(iso(nextTick(parse("0 9-17/4 * * *"), at("2026-12-01T10:00:00Z"))), "2026-12-01T13:00:00.000Z");
  assert.equal(iso(nextTick(parse("30 8 * * MON-FRI"), at("2026-12-04T09:00:00Z"))), "2026-12-07T08:30:00.000Z", "Friday after 8:30 → Monday");
  assert.equal(iso(nextTick(parse("0 0 1 JAN,jul *"), at("2026-12-01T00:00:00Z"))), "2027-01-01T00:00:00.000Z");
  assert.equal(iso(nextTick(parse("0 12 * * 7"), at("2026-12-01T00:00:00Z"))), "2026-12-06T12:00:00.000Z", "7 is Sunday");
  assert.equal(iso(nextTick(parse("5/20 * * * *"), at("2026-12-01T10:26:00Z"))), "2026-12-01T10:45:00.000Z");
});

test("cron: day of month and day of week restricted together match either (Vixie cron)", () => {
  // 13th of the month or a Friday: after Tue 2026-12-01 the first is Friday the 4th.
  assert.equal(iso(nextTick(parse("0 0 13 * FRI"), at("2026-12-01T00:00:00Z"))), "2026-12-04T00:00:00.000Z");
  assert.equal(iso(nextTick(parse("0 0 13 * *"), at("2026-12-01T00:00:00Z"))), "2026-12-13T00:00:00.000Z");
});

test("cron reads the wall clock of its time zone, across a DST change", () => {
  const s = parse("0 9 * * *");
  assert.equal(iso(nextTick(s, at("2026-12-01T00:00:00Z"), "Europe/Paris")), "2026-12-01T08:00:00.000Z", "UTC+1 in winter");
  assert.equal(iso(nextTick(s, at("2026-07-01T00:00:00Z"), "Europe/Paris")), "2026-07-01T07:00:00.000Z", "UTC+2 in summer");
  assert.equal(iso(nextTick(parse("30 * * * *"), at("2026-12-01T00:00:00Z"), "Asia/Kolkata")), "2026-12-01T01:00:00.000Z");
});

test("a cron that can never fire has no next tick; bad expressions name the field", () => {
  assert.equal(nextTick(parse("0 0 30 2 *"), at("2026-12-01T00:00:00Z")), undefined);
  const bad = (s: string, re: RegExp) => {
    const r = parseSchedule(s);
    assert.equal(r.ok, false, s);
    if (!r.ok) assert.match(r.message, re);
  };
  bad("* * * *", /5 fields/);
  bad("60 * * * *", /minute: 60 is outside 0-59/);
  bad("* 5-2 * * *", /hour: the range 5-2 runs backwards/);
  bad("* * * FOO *", /month: "FOO"/);
  bad("*/0 * * * *", /step must be at least 1/);
  bad("rate(0 seconds)", /at least 1 second/);
  bad("rate(5 fortnights)", /rate\(N unit\)/);
});

test("TriggerSpec takes exactly one kind and refuses subjects Weft owns", () => {
  assert.ok(TriggerSpec.safeParse({ function: "f", subject: "orders.*.created" }).success);
  assert.ok(TriggerSpec.safeParse({ function: "f", subject: "events.>" }).success);
  assert.ok(TriggerSpec.safeParse({ function: "f", stream: "ORDERS", filterSubject: "orders.eu.>", deliverPolicy: "new", maxInFlight: 10, ordered: true }).success);
  assert.ok(TriggerSpec.safeParse({ function: "f", schedule: "rate(5 minutes)", timezone: "Europe/Paris", event: { a: 1 } }).success);
  for (const bad of [
    { function: "f" },
    { function: "f", subject: "a", stream: "S" },
    { function: "f", subject: "weft.invoke.f" },
    { function: "f", subject: "$JS.API.>" },
    { function: "f", subject: "a.>.b" },
    { function: "f", subject: ">" },
    { function: "f", subject: "*.created" },
    { function: "f", schedule: "* * *" },
    { function: "f", schedule: "rate(1 minute)", timezone: "Mars/Olympus" },
    { function: "f", subject: "a", version: 2, alias: "prod" },
    { function: "F", subject: "a" },
  ]) assert.equal(TriggerSpec.safeParse(bad).success, false, JSON.stringify(bad));
});

test("a day-restricted cron skips whole days without missing a midnight across a DST change", () => {
  const cron = parse;
  // Europe/Berlin springs forward on 2027-03-28 (02:00 CET -> 03:00 CEST): that Sunday has 23 hours.
  assert.equal(nextTick(cron("0 0 * * 1"), at("2027-03-27T23:30:00Z"), "Europe/Berlin"), at("2027-03-28T22:00:00Z"));
  // ... and falls back on 2027-10-31: a 25-hour Sunday before Monday's midnight.
  assert.equal(nextTick(cron("0 0 * * 1"), at("2027-10-30T22:30:00Z"), "Europe/Berlin"), at("2027-10-31T23:00:00Z"));
  assert.equal(nextTick(cron("0 0 29 2 *"), at("2026-12-02T00:00:00Z"), "UTC"), at("2028-02-29T00:00:00Z"));
  // 02:30 happens twice in Berlin on 2027-10-31 (CEST, then CET): the tick fires on the first pass only.
  const first = nextTick(cron("30 2 * * *"), at("2027-10-30T12:00:00Z"), "Europe/Berlin");
  assert.equal(first, at("2027-10-31T00:30:00Z"));
  assert.equal(nextTick(cron("30 2 * * *"), first!, "Europe/Berlin"), at("2027-11-01T01:30:00Z"));
  assert.equal(nextTick(cron("0 0 30 2 *"), at("2026-12-02T00:00:00Z"), "UTC"), undefined);
});
