// A second test reporter for `npm test`: after the TAP stream, it prints every failed test again with its file and
// the start of its error, so the tail of a long run (all a CI log view may keep) says what failed and why.
const MAX_ERROR_CHARS = 3000;

function describeError(error) {
  const cause = error?.cause ?? error;
  // The message, then the first frames that point into the repository (not node's internals).
  const frames = cause instanceof Error ? (cause.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l) && !l.includes("node:")).slice(0, 3) : [];
  const text = cause instanceof Error ? [cause.message, ...frames].join("\n") : String(cause);
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}\n[… ${text.length - MAX_ERROR_CHARS} more characters]` : text;
}

export default async function* failuresReporter(source) {
  const failures = [];
  for await (const event of source) {
    if (event.type !== "test:fail") continue;
    const { name, file, details } = event.data;
    // A suite fails when a test in it fails: its own entry repeats what the test's says.
    if (details?.type === "suite" && details?.error?.failureType === "subtestsFailed") continue;
    failures.push({ name, file, error: describeError(details?.error) });
  }
  if (failures.length === 0) return;
  yield `\n# ==== ${failures.length} failed (repeated from above) ====\n`;
  for (const f of failures) {
    yield `# ---- ${f.name}${f.file ? ` (${f.file.replace(process.cwd() + "/", "")})` : ""}\n`;
    yield `${f.error.split("\n").map((l) => `#   ${l}`).join("\n")}\n`;
  }
}
