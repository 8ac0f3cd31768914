// .weft/env, as deploy/services.sh wrote it (KEY=value lines): which binaries, store and MongoDB it chose.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const WEFT_DIR = join(resolve(import.meta.dirname, ".."), ".weft");

export function readWeftEnv(): Record<string, string> {
  const file = join(WEFT_DIR, "env");
  if (!existsSync(file)) throw new Error(`${file} is missing: run bash deploy/services.sh`);
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1]) env[m[1]] = m[2] ?? "";
  }
  return env;
}
