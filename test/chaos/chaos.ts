// npm run chaos: every scenario of test/chaos/scenarios.ts on a fresh private fabric, then an audit of what
// was accepted. Prints a row per scenario and `N passed, M failed`, writes bench-results/chaos-<time>.json.
//   npm run chaos                      all scenarios, full load
//   npm run chaos -- --short           the short version (a few scenarios, small load), as npm test runs it
//   npm run chaos -- --only nats-kill,agent-sigkill
//   npm run chaos -- --cluster         the cluster scenarios: three NATS nodes, R3 streams, controllers, gateways
//                                      and agents on hosts of their own
//   npm run chaos -- --cluster --short the short cluster version (cluster-nats-kill)
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { audit, recordLags, recoveryLags, type AuditCounts } from "./audit.js";
import { ChaosFabric, ROOT, type FabricSettings } from "./fabric.js";
import { chaosFunctions, deployFunctions, Load, type SyncStats } from "./load.js";
import { SCENARIOS, type Scenario } from "./scenarios.js";

export interface ScenarioResult extends Omit<AuditCounts, "examples"> {
  name: string;
  what: string;
  passed: boolean;
  failures: string[];
  orphans: number;
  stuckJobs: number;
  /** from the end of recovery (or a later acceptance) until every accepted invocation had its final record */
  recoveryMs: number;
  /** the records path alone: from the end of recovery (or a later first publish) until the final record was stored */
  recordsMs: number;
  asyncRefused: number;
  sync: SyncStats;
  notes: Record<string, number | string>;
  /** the invocations whose final record was stored last: when (ms after recovery) it was published and stored */
  slowest?: string[];
  examples?: AuditCounts["examples"];
  error?: string;
}

export interface ChaosOptions {
  short: boolean;
  /** the cluster scenarios instead of the single-server ones */
  cluster?: boolean;
  only?: string[];
  /** an accepted invocation with no final record this long after recovery is lost */
  recoveryBoundMs?: number;
  log?: (line: string) => void;
}

export const SETTINGS: FabricSettings = { ackWaitMs: 3000, maxDeliver: 3, agentSlots: 40 };

/** When the runner first found each invocation's final record in MongoDB. */
const storedAt = new Map<string, number>();

async function waitAllFinal(f: ChaosFabric, ids: string[], boundMs: number) {
  const deadline = Date.now() + boundMs;
  let failure: unknown;
  for (;;) {
    const stored = await f.storedFinals(ids).catch((err: unknown) => void (failure = err));
    for (const id of stored?.keys() ?? []) if (!storedAt.has(id)) storedAt.set(id, Date.now());
    if (stored && (stored.size === ids.length || Date.now() > deadline)) return stored;
    // Records this run could not read are not records the fabric lost: say so, instead of counting all as lost.
    if (!stored && Date.now() > deadline) throw new Error(`the audit could not read the stored records from MongoDB for ${boundMs} ms: ${(failure as Error)?.message}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Notes when each accepted invocation's final record is first found in MongoDB, polling until stopped. */
class StoreWatch {
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly f: ChaosFabric, private readonly ids: () => string[]) {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const wanted = this.ids().filter((id) => !storedAt.has(id));
      const stored = wanted.length ? await this.f.storedFinals(wanted).catch(() => undefined) : undefined;
      for (const id of stored?.keys() ?? []) storedAt.set(id, Date.now());
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function jobsDrained(f: ChaosFabric, boundMs: number): Promise<number> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const left = await f.jobsLeft().catch(() => -1);
    if (left === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function runScenario(s: Scenario, opts: ChaosOptions, logRoot: string): Promise<ScenarioResult> {
  const log = opts.log ?? console.log;
  const notes: Record<string, number | string> = {};
  const failures: string[] = [];
  const result: ScenarioResult = {
    name: s.name, what: s.what, passed: false, failures, accepted: 0, lost: 0, duplicates: 0, provenDuplicates: 0, wrong: 0,
    orphans: 0, stuckJobs: 0, recoveryMs: 0, recordsMs: 0, asyncRefused: 0, sync: { ok: 0, failedOutcome: 0, failedRetryable: 0, wrong: 0, late: 0 }, notes,
  };
  log(`[chaos] ${s.name}: ${s.what}`);
  let f: ChaosFabric;
  try {
    f = await ChaosFabric.start(SETTINGS, join(logRoot, s.name), { cluster: s.cluster });
  } catch (err) {
    // A fabric that did not start is this scenario's failure, not the end of the run.
    result.error = `the fabric did not start: ${(err as Error).message}`;
    failures.push(result.error);
    return result;
  }
  let load: Load | undefined;
  try {
    const fns = chaosFunctions(s.isolations);
    await deployFunctions(f, fns);
    load = new Load(f, fns.map((x) => x.name), s.load(opts.short));
    load.start();
    await s.run({ f, load, short: opts.short, note: (k, v) => { notes[k] = v; }, fail: (why) => failures.push(why) });
    const recoveredAt = Date.now();
    // Polled from recovery on, while the last submissions may still be waiting on their answers.
    const watch = new StoreWatch(f, () => [...load!.accepted.keys()]);
    const bound = opts.recoveryBoundMs ?? 60_000;
    try {
      await load.stopSubmitting();
      await waitAllFinal(f, [...load.accepted.keys()], bound);
    } finally {
      await watch.stop();
    }
    const lags = recoveryLags(load.accepted, storedAt, recoveredAt);
    result.recoveryMs = lags[0]?.ms ?? 0;
    const publishedAt = new Map([...load.accepted.keys()].flatMap((id) => {
      const seen = f.finalsSeen.get(id);
      return seen?.length ? [[id, Math.min(...seen.map((t) => t.at))] as const] : [];
    }));
    result.recordsMs = recordLags(publishedAt, storedAt, recoveredAt)[0]?.ms ?? 0;
    notes.lastAcceptedAfterRecoveryMs = Math.max(0, ...[...load.accepted.values()].map((a) => a.acceptedAt - recoveredAt));
    result.slowest = lags
      .map((l) => l.id)
      .slice(0, 3)
      .map((id) => {
        const seen = f.finalsSeen.get(id) ?? [];
        const published = seen.length ? `${Math.min(...seen.map((t) => t.at)) - recoveredAt} ms` : "not seen";
        const a = load!.accepted.get(id)!;
        return `${id} (${a.fn}, ${a.mode} via ${a.client}): accepted ${a.acceptedAt - recoveredAt} ms, published ${published}, stored ${storedAt.get(id)! - recoveredAt} ms after recovery`;
      });
    await load.finish();
    const stored = await waitAllFinal(f, [...load.accepted.keys()], Math.max(5000, bound - (Date.now() - recoveredAt)));
    const counts = audit(load.accepted, stored, f.finalsSeen, (id, a) => f.mayHaveDiedWithAgents(id, a.acceptedAt));
    Object.assign(result, counts);
    result.asyncRefused = load.asyncRefused;
    result.sync = load.sync;
    if (load.syncFailures.size) notes.syncFailures = [...load.syncFailures].map(([why, n]) => `${n}x ${why}`).join(" | ");
    result.stuckJobs = await jobsDrained(f, 20_000);
  } catch (err) {
    result.error = (err as Error).message;
    failures.push(`error: ${(err as Error).message}`);
    await load?.finish().catch(() => undefined);
  } finally {
    result.orphans = (await f.stop().catch(() => ({ orphans: -1 }))).orphans;
  }
  if (result.accepted === 0) failures.push("nothing was accepted");
  if (result.lost > 0) failures.push(`${result.lost} lost`);
  if (result.wrong > 0) failures.push(`${result.wrong} wrong outcomes`);
  if (result.sync.wrong > 0) failures.push(`${result.sync.wrong} sync answers with another call's output`);
  if (result.orphans !== 0) failures.push(`${result.orphans} orphan containers`);
  if (result.stuckJobs !== 0) failures.push(`${result.stuckJobs} jobs left in WEFT_JOBS`);
  const rate = syncRetryableRate(result.sync);
  if (s.maxSyncRetryableRate !== undefined && rate > s.maxSyncRetryableRate) {
    failures.push(`${(rate * 100).toFixed(2)} % of sync calls failed retryably (bound ${(s.maxSyncRetryableRate * 100).toFixed(1)} %)`);
  }
  result.passed = failures.length === 0;
  return result;
}

/** The share of sync calls that failed with a retryable status (503, a cut connection, no answer). */
export function syncRetryableRate(s: SyncStats): number {
  const calls = s.ok + s.failedOutcome + s.failedRetryable + s.wrong + s.late;
  return calls === 0 ? 0 : s.failedRetryable / calls;
}

const COLUMNS = ["scenario", "accepted", "lost", "dup", "dup!", "wrong", "orphans", "stuck", "recovery", "records", "sync ok/fail/retry/202", "retry %", "result"] as const;

function row(r: ScenarioResult): string[] {
  return [
    r.name, String(r.accepted), String(r.lost), String(r.duplicates), String(r.provenDuplicates), String(r.wrong), String(r.orphans), String(r.stuckJobs),
    `${(r.recoveryMs / 1000).toFixed(1)} s`, `${(r.recordsMs / 1000).toFixed(1)} s`, `${r.sync.ok}/${r.sync.failedOutcome}/${r.sync.failedRetryable}/${r.sync.late}`,
    `${(syncRetryableRate(r.sync) * 100).toFixed(2)} %`, r.passed ? "pass" : `FAIL: ${r.failures.join("; ")}`,
  ];
}

export function formatTable(results: ScenarioResult[]): string {
  const rows = [[...COLUMNS], ...results.map(row)];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

export async function runChaos(opts: ChaosOptions): Promise<{ results: ScenarioResult[]; file: string }> {
  const log = opts.log ?? console.log;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const results_dir = join(ROOT, "bench-results");
  const logRoot = join(results_dir, `chaos-${stamp}`);
  await mkdir(logRoot, { recursive: true });
  const chosen = SCENARIOS.filter((s) => (opts.only ? opts.only.includes(s.name) : (s.cluster ?? false) === (opts.cluster ?? false) && (!opts.short || s.inShort)));
  if (chosen.length === 0) throw new Error(`no scenario matches ${opts.only?.join(",")}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`);
  const results: ScenarioResult[] = [];
  for (const s of chosen) {
    const r = await runScenario(s, opts, logRoot);
    results.push(r);
    log(formatTable([r]).split("\n")[1]!);
    if (r.recoveryMs > 5000 && r.slowest) log(`    slowest: ${r.slowest.join(" | ")}`);
    if (r.notes.syncFailures) log(`    sync failures: ${r.notes.syncFailures}`);
    if (!r.passed && r.examples) for (const [k, v] of Object.entries(r.examples)) if (v.length) log(`    ${k}: ${v.join(" | ")}`);
  }
  const passed = results.filter((r) => r.passed).length;
  log(`\n${formatTable(results)}\n\n${passed} passed, ${results.length - passed} failed`);
  const file = join(results_dir, `chaos-${stamp}.json`);
  await writeFile(file, JSON.stringify({ at: new Date().toISOString(), short: opts.short, cluster: opts.cluster ?? false, settings: SETTINGS, logs: logRoot, results }, null, 2));
  log(`[chaos] report: ${file} (component logs under ${logRoot})`);
  return { results, file };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  const onlyAt = args.indexOf("--only");
  const only = onlyAt >= 0 ? args[onlyAt + 1]?.split(",").filter(Boolean) : undefined;
  runChaos({ short: args.includes("--short"), cluster: args.includes("--cluster"), only }).then(
    ({ results }) => process.exit(results.every((r) => r.passed) ? 0 : 1),
    (err) => {
      console.error(err);
      process.exit(2);
    },
  );
}
