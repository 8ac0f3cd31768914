// Starts a rendered systemd service unit the way systemd would start it, for a machine where systemd is not PID 1:
// its ExecStart in its WorkingDirectory, with the environment systemd would give it (PATH, then Environment=, then
// each EnvironmentFile= in order), and stops it with its KillSignal, timing the stop against its TimeoutStopSec.
// Not emulated: User=/Group= (it runs as the test's user), the sandboxing directives, Restart=.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { parseEnvFile } from "../../deploy/stop-grace.js";

/** systemd's PATH for system services. */
const SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export type UnitFile = Record<string, Record<string, string[]>>;

/** [Section] then Key=Value lines; a key may repeat (EnvironmentFile=, Environment=). */
export function parseUnit(text: string): UnitFile {
  const unit: UnitFile = {};
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1]) {
      section = header[1];
      unit[section] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0 || !section) throw new Error(`not a unit line: ${line}`);
    const key = line.slice(0, eq).trim();
    ((unit[section] ??= {})[key] ??= []).push(line.slice(eq + 1).trim());
  }
  return unit;
}

/** Splits a command line or an Environment= value into words, honouring double and single quotes. */
export function words(value: string): string[] {
  const out: string[] = [];
  for (const m of value.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3] ?? "");
  return out;
}

export function serviceValue(unit: UnitFile, key: string): string | undefined {
  return unit.Service?.[key]?.at(-1);
}

/** The environment systemd would give the service. */
export function serviceEnv(unit: UnitFile): Record<string, string> {
  const env: Record<string, string> = { PATH: SYSTEMD_PATH, HOME: process.env.HOME ?? "/", USER: process.env.USER ?? "root" };
  for (const assignments of unit.Service?.Environment ?? []) {
    for (const w of words(assignments)) {
      const eq = w.indexOf("=");
      if (eq > 0) env[w.slice(0, eq)] = w.slice(eq + 1);
    }
  }
  for (const spec of unit.Service?.EnvironmentFile ?? []) {
    const optional = spec.startsWith("-");
    const file = optional ? spec.slice(1) : spec;
    if (!existsSync(file)) {
      if (optional) continue;
      throw new Error(`EnvironmentFile ${file} is missing`);
    }
    Object.assign(env, parseEnvFile(readFileSync(file, "utf8")));
  }
  return env;
}

export interface RunningUnit {
  name: string;
  child: ChildProcess;
  output(): string;
  /** KillSignal, then waits; resolves with how long the stop took and how the process ended. */
  stop(): Promise<{ ms: number; code: number | null; signal: NodeJS.Signals | null }>;
  timeoutStopMs: number;
}

export function startUnit(name: string, file: string): RunningUnit {
  const unit = parseUnit(readFileSync(file, "utf8"));
  const execStart = serviceValue(unit, "ExecStart");
  if (!execStart) throw new Error(`${file} has no ExecStart`);
  const [command, ...args] = words(execStart);
  const child = spawn(command!, args, {
    cwd: serviceValue(unit, "WorkingDirectory") ?? "/",
    env: serviceEnv(unit),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const timeoutStopMs = Number(serviceValue(unit, "TimeoutStopSec") ?? "90") * 1000;
  return {
    name,
    child,
    output: () => output,
    timeoutStopMs,
    stop: async () => {
      const started = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill((serviceValue(unit, "KillSignal") ?? "SIGTERM") as NodeJS.Signals);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutStopMs); // what systemd does at TimeoutStopSec
      const [code, signal] = await exited;
      clearTimeout(timer);
      return { ms: Date.now() - started, code, signal };
    },
  };
}
