// The chaos runner's own process control: every part of the private fabric is a child process it can signal
// (SIGKILL, SIGTERM, SIGSTOP/SIGCONT), stop and start again on the same ports and data. It does not use
// `npm run up`, so a scenario's faults are exactly the ones it injects.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";

export interface ProcSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** A TCP port that accepts connections once the process is ready. */
  readyPort?: number;
  /** Where readyPort listens (default 127.0.0.1). */
  readyHost?: string;
  /** A line the process writes to stdout once it is ready (for one without a port of its own). */
  readyLine?: RegExp;
}

async function listening(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

/** One component of the fabric: a child process that can be killed, frozen, stopped and started again. */
export class Proc {
  private child: ChildProcess | undefined;
  private readonly log: WriteStream;
  private frozen = false;

  constructor(readonly spec: ProcSpec, logDir: string) {
    this.log = createWriteStream(join(logDir, `${spec.name}.log`), { flags: "a" });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running) throw new Error(`${this.spec.name} is already running`);
    this.log.write(`\n---- chaos: start ${this.spec.name} at ${new Date().toISOString()}\n`);
    const c = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: { ...process.env, ...this.spec.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = c;
    this.frozen = false;
    c.stdout?.pipe(this.log, { end: false });
    c.stderr?.pipe(this.log, { end: false });
    c.on("exit", (code, signal) => this.log.write(`\n---- chaos: ${this.spec.name} exited code=${code} signal=${signal}\n`));
    if (this.spec.readyLine) await this.awaitLine(c, this.spec.readyLine, timeoutMs);
    if (this.spec.readyPort === undefined) return;
    // A starting server has no other signal to await than its port.
    const deadline = Date.now() + timeoutMs;
    while (!(await listening(this.spec.readyPort, this.spec.readyHost))) {
      if (!this.running) throw new Error(`${this.spec.name} exited while starting (see its log)`);
      if (Date.now() > deadline) throw new Error(`${this.spec.name} did not listen on ${this.spec.readyPort}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Resolves when this run of the process writes a line matching `line` to stdout; rejects if it exits first. */
  private async awaitLine(c: ChildProcess, line: RegExp, timeoutMs: number): Promise<void> {
    let tail = "";
    let onData!: (d: Buffer) => void;
    let onExit!: () => void;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        onData = (d) => {
          const lines = (tail + d.toString()).split("\n");
          tail = lines.pop()!;
          if (lines.some((l) => line.test(l))) resolve();
        };
        onExit = () => reject(new Error(`${this.spec.name} exited while starting (see its log)`));
        timer = setTimeout(() => reject(new Error(`${this.spec.name} did not write ${line} within ${timeoutMs} ms`)), timeoutMs);
        c.stdout?.on("data", onData);
        c.once("exit", onExit);
      });
    } finally {
      clearTimeout(timer);
      c.stdout?.off("data", onData);
      c.off("exit", onExit);
    }
  }

  /** Sends a signal; SIGKILL and SIGTERM resolve once the process has exited. */
  async signal(sig: "SIGKILL" | "SIGTERM" | "SIGSTOP" | "SIGCONT", exitTimeoutMs = 60_000): Promise<void> {
    const c = this.child;
    if (!c || !this.running) return;
    if (sig === "SIGSTOP" || sig === "SIGCONT") {
      c.kill(sig);
      this.frozen = sig === "SIGSTOP";
      return;
    }
    const exited = once(c, "exit");
    if (this.frozen) c.kill("SIGCONT");
    c.kill(sig);
    const timer = setTimeout(() => c.kill("SIGKILL"), exitTimeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /** Graceful stop: SIGTERM, SIGKILL after the grace. */
  stop(graceMs = 40_000): Promise<void> {
    return this.signal("SIGTERM", graceMs);
  }

  close(): void {
    this.log.end();
  }
}
