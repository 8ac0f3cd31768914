// Judges a scenario from the records: the final record stored in MongoDB for every accepted invocation, and
// every final record any agent published (tapped on the records subject). The handlers return their own
// invocation id and attempt, so an ok record proves which attempt produced it.
import type { Accepted } from "./load.js";
import type { StoredFinal, TappedFinal } from "./fabric.js";

const HANDLER_STATUSES = new Set(["ok", "error"]);

export interface AuditCounts {
  accepted: number;
  lost: number;
  /** ran more than once: the stored final is a later attempt, or two attempts each published a handler outcome */
  duplicates: number;
  /** of those, proven: two attempts each published a handler outcome */
  provenDuplicates: number;
  wrong: number;
  examples: { lost: string[]; wrong: string[]; duplicates: string[] };
}

function parse(json: string | undefined): any {
  try {
    return json === undefined ? undefined : JSON.parse(json);
  } catch {
    return undefined;
  }
}

/** Why the stored final is not the true outcome, or undefined when it is. */
export function wrongOutcome(id: string, a: Accepted, stored: StoredFinal, seen: TappedFinal[], diedWithAgents = false): string | undefined {
  // A job whose deliveries all died with their agents truly ends killed/PLATFORM_ERROR, whatever it was sent to do
  // (an error on an earlier attempt included: its retries died too), unless some attempt succeeded.
  if (diedWithAgents && stored.status === "killed" && stored.error?.code === "PLATFORM_ERROR" && !seen.some((s) => s.status === "ok")) return undefined;
  if (stored.status !== a.expect.status) return `stored ${stored.status}/${stored.error?.code ?? ""}, expected ${a.expect.status}`;
  if (a.expect.errorCode && stored.error?.code !== a.expect.errorCode) return `stored error ${stored.error?.code}, expected ${a.expect.errorCode}`;
  if (stored.status === "ok") {
    const out = parse(stored.outputJson);
    if (out?.id !== id) return `output names ${out?.id}`;
    if (stored.attempt !== undefined && out.attempt !== stored.attempt) return `output says attempt ${out.attempt}, record says ${stored.attempt}`;
  }
  // A handler that succeeded on some attempt makes any other stored status false.
  if (stored.status !== "ok" && seen.some((s) => s.status === "ok")) return `stored ${stored.status} although an attempt published ok`;
  return undefined;
}

export function audit(
  accepted: Map<string, Accepted>,
  stored: Map<string, StoredFinal>,
  seen: Map<string, TappedFinal[]>,
  diedWithAgents: (id: string, a: Accepted) => boolean = () => false,
): AuditCounts {
  const c: AuditCounts = { accepted: accepted.size, lost: 0, duplicates: 0, provenDuplicates: 0, wrong: 0, examples: { lost: [], wrong: [], duplicates: [] } };
  const note = (list: string[], s: string) => { if (list.length < 5) list.push(s); };
  for (const [id, a] of accepted) {
    const doc = stored.get(id);
    const finals = seen.get(id) ?? [];
    const ranAttempts = new Set(finals.filter((s) => HANDLER_STATUSES.has(s.status ?? "")).map((s) => s.attempt));
    const proven = ranAttempts.size > 1;
    if (proven) c.provenDuplicates++;
    if (proven || (doc?.attempt ?? 1) > 1) {
      c.duplicates++;
      note(c.examples.duplicates, `${id} (${a.fn}) stored attempt ${doc?.attempt}, attempts published ${[...ranAttempts].join(",")}`);
    }
    if (!doc) {
      c.lost++;
      note(c.examples.lost, `${id} (${a.fn}, ${a.mode} via ${a.client})`);
      continue;
    }
    const why = wrongOutcome(id, a, doc, finals, diedWithAgents(id, a));
    if (why) {
      c.wrong++;
      note(c.examples.wrong, `${id} (${a.fn}, ${a.mode} via ${a.client}): ${why}`);
    }
  }
  return c;
}

/**
 * How long after recovery each stored invocation's final record landed in MongoDB. A record cannot land before
 * its call was accepted, so one accepted after recovery is timed from its acceptance. Longest first.
 */
export function recoveryLags(accepted: Map<string, Accepted>, storedAt: Map<string, number>, recoveredAt: number): Array<{ id: string; ms: number }> {
  const out: Array<{ id: string; ms: number }> = [];
  for (const [id, a] of accepted) {
    const at = storedAt.get(id);
    if (at !== undefined) out.push({ id, ms: Math.max(0, at - Math.max(recoveredAt, a.acceptedAt)) });
  }
  return out.sort((x, y) => y.ms - x.ms);
}

/**
 * The records path alone: how long after recovery, or after an agent first published it if later, each final
 * record landed in MongoDB (a job that ran late is not a record that landed late). Longest first.
 */
export function recordLags(publishedAt: Map<string, number>, storedAt: Map<string, number>, recoveredAt: number): Array<{ id: string; ms: number }> {
  const out: Array<{ id: string; ms: number }> = [];
  for (const [id, published] of publishedAt) {
    const at = storedAt.get(id);
    if (at !== undefined) out.push({ id, ms: Math.max(0, at - Math.max(recoveredAt, published)) });
  }
  return out.sort((x, y) => y.ms - x.ms);
}
