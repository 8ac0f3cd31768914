// How the CLI prints: aligned tables and key/value lists for people, JSON for scripts (--json).
import type { Writable } from "node:stream";

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

export class Output {
  constructor(
    readonly json: boolean,
    private readonly out: Writable,
    private readonly err: Writable,
  ) {}

  line(text = ""): void {
    this.out.write(`${text}\n`);
  }

  /** Text exactly as it is (code, a script's stdout). */
  raw(text: string): void {
    this.out.write(text);
  }

  /** To stderr: notes for a person that must not mix with the output a script reads. */
  note(text: string): void {
    this.err.write(`${text}\n`);
  }

  data(value: unknown): void {
    this.out.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** --json prints `value`; otherwise the rows as a table (or `empty` when there are none). */
  table<T>(value: unknown, rows: T[], columns: Column<T>[], empty: string): void {
    if (this.json) return this.data(value);
    if (rows.length === 0) return this.note(empty);
    const cells = [columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => cell(c.value(r))))];
    const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
    for (const row of cells) this.line(row.map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i]!))).join("  ").trimEnd());
  }

  /** --json prints `value`; otherwise one "key: value" line per pair. */
  fields(value: unknown, pairs: Array<[string, unknown]>): void {
    if (this.json) return this.data(value);
    const width = Math.max(...pairs.map(([k]) => k.length));
    for (const [k, v] of pairs) if (v !== undefined) this.line(`${`${k}:`.padEnd(width + 1)} ${cell(v)}`);
  }
}

export function cell(v: unknown): string {
  if (v === undefined || v === null) return "-";
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number") return String(v);
  return JSON.stringify(v);
}

export const ms = (v: number | null | undefined): string => (v === undefined || v === null ? "-" : `${v < 10 ? v.toFixed(2) : v.toFixed(0)}ms`);

/** A JSON value as a person reads it: a string as itself, anything else as indented JSON. */
export function showValue(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v, null, 2);
}
