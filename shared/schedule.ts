// Schedules of schedule triggers: a 5-field cron expression (minute hour day-of-month month day-of-week, read in a
// time zone) or rate(N unit). Pure: parsing and "the next tick after t", unit-tested in test/unit/schedule.test.ts.
// Written here rather than taken from a library: the grammar is small, and every gateway must compute the very same
// tick instants (the tick's id is what makes a tick fire once), so its exact behaviour is ours to pin down in tests.

export type Schedule =
  | { kind: "rate"; periodMs: number }
  | { kind: "cron"; minute: Set<number>; hour: Set<number>; dom: Set<number>; month: Set<number>; dow: Set<number>; domAny: boolean; dowAny: boolean };

export type ParseResult = { ok: true; schedule: Schedule } | { ok: false; message: string };

const UNIT_MS: Record<string, number> = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

interface FieldDef {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** The first name stands for this number (JAN = 1, SUN = 0). */
  nameBase?: number;
}

const FIELDS: FieldDef[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: "day of week", min: 0, max: 7, names: DAYS, nameBase: 0 },
];

/** The shortest period a rate may have: ticks closer than this would be hard to tell apart under load. */
export const MIN_RATE_MS = 1000;

export function parseSchedule(text: string): ParseResult {
  const rate = /^rate\(\s*(\d{1,9})\s+(second|minute|hour|day)s?\s*\)$/i.exec(text.trim());
  if (rate) {
    const periodMs = Number(rate[1]) * UNIT_MS[rate[2]!.toLowerCase()]!;
    if (periodMs < MIN_RATE_MS) return { ok: false, message: "a rate must be at least 1 second" };
    return { ok: true, schedule: { kind: "rate", periodMs } };
  }
  if (/^rate\(/i.test(text.trim())) return { ok: false, message: "a rate is rate(N unit), unit one of second, minute, hour, day (or their plurals)" };
  return parseCron(text);
}

function parseCron(text: string): ParseResult {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 5) return { ok: false, message: `a cron expression has 5 fields (minute hour day-of-month month day-of-week); this has ${parts.length}` };
  const sets: Set<number>[] = [];
  for (let i = 0; i < 5; i++) {
    const parsed = parseField(parts[i]!, FIELDS[i]!);
    if (typeof parsed === "string") return { ok: false, message: parsed };
    sets.push(parsed);
  }
  const dow = sets[4]!;
  if (dow.delete(7)) dow.add(0); // 7 is Sunday too
  return {
    ok: true,
    schedule: {
      kind: "cron",
      minute: sets[0]!,
      hour: sets[1]!,
      dom: sets[2]!,
      month: sets[3]!,
      dow,
      domAny: parts[2] === "*" || parts[2] === "?",
      dowAny: parts[4] === "*" || parts[4] === "?",
    },
  };
}

/** One field: `*`, `?`, `n`, `a-b`, each optionally `/step`, comma-separated; names (JAN, MON) where allowed. */
function parseField(text: string, f: FieldDef): Set<number> | string {
  const out = new Set<number>();
  for (const item of text.split(",")) {
    const m = /^(\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d{1,3}))?$/.exec(item);
    if (!m) return `${f.name}: ${JSON.stringify(item)} is not a value, a range or a step`;
    const step = m[2] === undefined ? 1 : Number(m[2]);
    if (step < 1) return `${f.name}: a step must be at least 1`;
    let lo = f.min;
    let hi = f.name === "day of week" ? 6 : f.max;
    if (m[1] !== "*" && m[1] !== "?") {
      const [a, b] = m[1]!.split("-");
      const va = valueOf(a!, f);
      const vb = b === undefined ? (m[2] === undefined ? va : hi) : valueOf(b, f);
      if (typeof va === "string") return va;
      if (typeof vb === "string") return vb;
      if (va > vb) return `${f.name}: the range ${m[1]} runs backwards`;
      lo = va;
      hi = vb;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

function valueOf(token: string, f: FieldDef): number | string {
  if (/^\d+$/.test(token)) {
    const v = Number(token);
    if (v < f.min || v > f.max) return `${f.name}: ${v} is outside ${f.min}-${f.max}`;
    return v;
  }
  const i = f.names?.indexOf(token.toUpperCase()) ?? -1;
  if (i < 0) return `${f.name}: ${JSON.stringify(token)} is not a number${f.names ? " or a name" : ""}`;
  return i + (f.nameBase ?? 0);
}

/** Wall-clock fields of an instant in a time zone. */
interface Wall {
  month: number;
  dom: number;
  dow: number;
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function wallClock(t: number, timeZone: string): Wall {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", month: "numeric", day: "numeric", weekday: "short", hour: "numeric", minute: "numeric" });
    formatters.set(timeZone, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(t)) parts[p.type] = p.value;
  return { month: Number(parts.month), dom: Number(parts.day), dow: DAYS.indexOf(parts.weekday!.toUpperCase()), hour: Number(parts.hour), minute: Number(parts.minute) };
}

const MINUTE = 60_000;
/** A cron expression that matches nothing within this many minutes (Feb 30) never fires. */
const SEARCH_MINUTES = 5 * 366 * 24 * 60;

/** The first tick strictly after `after` (epoch ms), or undefined if the schedule never fires. */
export function nextTick(s: Schedule, after: number, timeZone = "UTC"): number | undefined {
  if (s.kind === "rate") return (Math.floor(after / s.periodMs) + 1) * s.periodMs;
  let t = (Math.floor(after / MINUTE) + 1) * MINUTE;
  for (let searched = 0; searched < SEARCH_MINUTES; ) {
    const w = wallClock(t, timeZone);
    const dayOk = s.month.has(w.month) && dayMatches(s, w);
    if (!dayOk || !s.hour.has(w.hour)) {
      // Nothing this hour can match: go to the next hour boundary (wall-clock minutes past it are the same in
      // every zone offset of whole or half hours, and a quarter-hour zone only makes the step shorter). Nothing
      // this day can match: go to 23:00 of it in one step, then on by the hour, so a jump across a DST change
      // lands no later than the next day's midnight (a rare schedule, 0 0 29 2 *, costs ~3,700 looks in five
      // years instead of ~44,000, on the gateway's event loop).
      const step = (!dayOk && w.hour < 23 ? (23 - w.hour) * 60 - w.minute : 60 - w.minute) * MINUTE;
      t += step;
      searched += step / MINUTE;
      continue;
    }
    if (s.minute.has(w.minute) && !repeatedWallTime(t, w, timeZone)) return t;
    t += MINUTE;
    searched++;
  }
  return undefined;
}

/**
 * Whether this wall-clock minute already happened an hour earlier: the second pass through the hour a zone
 * repeats when it falls back. A tick fires on the first pass only, as cron does.
 */
function repeatedWallTime(t: number, w: Wall, timeZone: string): boolean {
  const before = wallClock(t - 60 * MINUTE, timeZone);
  return before.hour === w.hour && before.minute === w.minute && before.dom === w.dom;
}

/** The last tick at or before `at`, if the schedule fired within `withinMs` of it. */
export function previousTick(s: Schedule, at: number, withinMs: number, timeZone = "UTC"): number | undefined {
  if (s.kind === "rate") {
    const t = Math.floor(at / s.periodMs) * s.periodMs;
    return at - t <= withinMs ? t : undefined;
  }
  let last: number | undefined;
  for (let t = nextTick(s, at - withinMs - 1, timeZone); t !== undefined && t <= at; t = nextTick(s, t, timeZone)) last = t;
  return last;
}

/** Vixie cron: when both day fields are restricted, either may match. */
function dayMatches(s: Extract<Schedule, { kind: "cron" }>, w: Wall): boolean {
  if (s.domAny && s.dowAny) return true;
  if (s.domAny) return s.dow.has(w.dow);
  if (s.dowAny) return s.dom.has(w.dom);
  return s.dom.has(w.dom) || s.dow.has(w.dow);
}
