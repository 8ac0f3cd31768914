// Run ad-hoc code once (POST /v1/execute), in a fresh sandbox with every limit a function has: stdout, stderr,
// exit code and timing. A gateway without that API is said to lack it; the code stays in the editor.
import { useState } from "preact/hooks";
import { ApiError, api, type ExecutionResult } from "../api.js";
import { CodeEditor } from "../components/code-editor.js";
import { FieldError, errorFor } from "../components/field.js";
import { ErrorBox, Fact, InvocationLink } from "../components/facts.js";
import { StatusBadge } from "../components/status.js";
import { ms } from "../format.js";
import { ISOLATIONS, RUNTIMES, RUNTIME_LABELS, languageOf, type Isolation, type Language, type Runtime } from "../templates.js";

const SCRIPT_OF: Record<Language, string> = {
  python: `import sys\nprint("hello from the playground")\nprint("read", len(sys.stdin.read()), "bytes of stdin")\n`,
  javascript: `let input = "";\nprocess.stdin.on("data", (d) => (input += d));\nprocess.stdin.on("end", () => {\n  console.log("hello from the playground");\n  console.log("read", input.length, "bytes of stdin");\n});\n`,
  typescript: `let input: string = "";\nprocess.stdin.on("data", (d: Buffer) => (input += d));\nprocess.stdin.on("end", () => {\n  console.log("hello from the playground");\n  console.log("read", input.length, "bytes of stdin");\n});\n`,
};
const SCRIPTS = Object.fromEntries(RUNTIMES.map((r) => [r, SCRIPT_OF[languageOf(r)]])) as Record<Runtime, string>;

type Outcome = { kind: "done"; result: ExecutionResult } | { kind: "error"; error: ApiError } | { kind: "missing" };

export function PlaygroundPage() {
  const [runtime, setRuntime] = useState<Runtime>("python3");
  const [isolation, setIsolation] = useState<Isolation>("runc");
  const [code, setCode] = useState(SCRIPTS.python3);
  const [stdin, setStdin] = useState("");
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | undefined>();

  async function run() {
    setBusy(true);
    try {
      setOutcome({ kind: "done", result: await api.execute({ runtime, isolation, code, stdin, mode: "script" }) });
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError("CLIENT_ERROR", String(err), 0);
      // No route at all (404 without a field) means this gateway has no execute API yet.
      setOutcome(e.status === 404 && !e.field ? { kind: "missing" } : { kind: "error", error: e });
    } finally {
      setBusy(false);
    }
  }

  const error = outcome?.kind === "error" ? outcome.error : undefined;
  const result = outcome?.kind === "done" ? outcome.result : undefined;
  return (
    <>
      <div class="page-head">
        <h1>Playground</h1>
        <p class="muted small">Run a script once in a fresh sandbox, with every limit a function has. Nothing is deployed.</p>
      </div>
      <div class="split">
        <section class="card" aria-labelledby="pg-code">
          <div class="form-grid">
            <div class="field">
              <label for="pg-runtime">Runtime</label>
              <select
                id="pg-runtime"
                value={runtime}
                onChange={(e) => {
                  const r = e.currentTarget.value as Runtime;
                  if (Object.values(SCRIPTS).includes(code)) setCode(SCRIPTS[r]);
                  setRuntime(r);
                }}
              >
                {RUNTIMES.map((r) => (
                  <option value={r} key={r}>
                    {RUNTIME_LABELS[r]}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="pg-isolation">Isolation</label>
              <select id="pg-isolation" value={isolation} onChange={(e) => setIsolation(e.currentTarget.value as Isolation)}>
                {ISOLATIONS.map((i) => (
                  <option value={i} key={i}>
                    {i}
                  </option>
                ))}
              </select>
            </div>
          </div>
          <h2 id="pg-code">Code</h2>
          <CodeEditor value={code} language={runtime} label="Code" onChange={setCode} onSave={() => void run()} invalid={errorFor(error, "code") !== undefined} />
          <FieldError id="pg-code-error" error={errorFor(error, "code")} />
          <div class="field">
            <label for="pg-stdin">Standard input</label>
            <textarea id="pg-stdin" class="code" rows={3} value={stdin} onInput={(e) => setStdin(e.currentTarget.value)} />
          </div>
          <div class="form-actions">
            <button type="button" class="primary" onClick={() => void run()} disabled={busy}>
              Run
            </button>
          </div>
        </section>
        <section class="card result-region" aria-label="Result" aria-live="polite">
          <h2>Result</h2>
          {!outcome && <p class="muted small">{busy ? "Running…" : "Run the code to see its output here."}</p>}
          {outcome?.kind === "missing" && (
            <p class="notice">
              This gateway has no execute API yet (<code>POST /v1/execute</code>). The playground runs code as soon as it has one; until then, deploy the code
              as a function and invoke it.
            </p>
          )}
          {error && !errorFor(error, "code") && <FieldError id="pg-error" error={error} />}
          {result && <ExecuteResult r={result} />}
        </section>
      </div>
    </>
  );
}

function ExecuteResult({ r }: { r: ExecutionResult }) {
  return (
    <div class="result">
      <dl class="facts">
        <Fact label="Status">
          <StatusBadge status={r.status} />
        </Fact>
        <Fact label="Exit code">{r.exitCode ?? "—"}</Fact>
        <Fact label="Duration">{ms(r.durationMs)}</Fact>
        <Fact label="Agent">{r.agent}</Fact>
        <Fact label="Invocation">
          <InvocationLink id={r.invocationId} short />
        </Fact>
      </dl>
      {r.error && <ErrorBox error={r.error} />}
      <h3>stdout{r.stdoutTruncated ? " (cut)" : ""}</h3>
      <pre class="code" aria-label="stdout">{r.stdout}</pre>
      <h3>stderr{r.stderrTruncated ? " (cut)" : ""}</h3>
      <pre class="code" aria-label="stderr">{r.stderr}</pre>
    </div>
  );
}
