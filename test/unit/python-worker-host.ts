// Runs Python in the host's python3 with the Weft Python worker (deploy/images/python3/runtime/worker.py) loaded as
// the module `w`, fds 3 and 4 open as under the runner: the worker's own code, tested without a container.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const WORKER = fileURLToPath(new URL("../../deploy/images/python3/runtime/worker.py", import.meta.url));
const PYTHON = process.env.WEFT_PYTHON_BIN || "python3";

/** Runs `body` (after `imports`, then the worker loaded as `w`); resolves with its stdout once it exits 0. */
export async function inPythonWorker(body: string, opts: { imports?: string; flags?: string[] } = {}): Promise<string> {
  const script = `import importlib.util, sys${opts.imports ? `, ${opts.imports}` : ""}
spec = importlib.util.spec_from_file_location("weft_worker", ${JSON.stringify(WORKER)})
w = importlib.util.module_from_spec(spec)
spec.loader.exec_module(w)
${body}`;
  const child = spawn(PYTHON, [...(opts.flags ?? []), "-c", script], { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  assert.equal(code, 0, `python3 exited ${code}: ${err}`);
  return out;
}
