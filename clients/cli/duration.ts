// Durations as people write them on a command line: 90s, 10m, 1h, 2d (or plain milliseconds).
import { UsageError } from "./usage-error.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${option}: "${text}" is not a duration (for example 90s, 10m, 1h, 2d)`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? "ms"]!);
}
