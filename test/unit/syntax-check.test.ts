// Deploy-time syntax checks: code that cannot parse is refused with a line number; valid code never is.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { pino } from "pino";
import { SyntaxChecker } from "../../controller/syntax-check.js";

const log = pino({ level: "silent" });
const checker = new SyntaxChecker({ pythonBin: process.env.WEFT_PYTHON_BIN ?? "python3" }, log);
const hasPython = spawnSync(process.env.WEFT_PYTHON_BIN ?? "python3", ["-c", "pass"]).status === 0;

describe("nodejs", () => {
  test("the contract's example parses", async () => {
    assert.equal(await checker.check("nodejs", "exports.handler = async (event) => ({ hello: event.name })"), null);
  });

  test("CommonJS features parse: require, module.exports, a top-level return", async () => {
    const code = `const os = require("os");\nmodule.exports.handler = () => os.EOL;\nif (false) return;\n`;
    assert.equal(await checker.check("nodejs", code), null);
  });

  test("an ES module is left to the runtime to accept", async () => {
    assert.equal(await checker.check("nodejs", "export async function handler(e) { return e }\n"), null);
  });

  test("a syntax error is refused with its line", async () => {
    const problem = await checker.check("nodejs", "// one\n// two\nexports.handler = async (event => 1\n");
    assert.match(problem ?? "", /^line 3: /);
  });

  test("a broken ES module reports the module's own error", async () => {
    const problem = await checker.check("nodejs", "export const handler = async ( => 1\n");
    assert.match(problem ?? "", /^line 1: Unexpected token/);
  });

  test("code that closes the CommonJS wrapper early is refused", async () => {
    assert.notEqual(await checker.check("nodejs", "}); (function() {"), null);
  });
});

describe("python3", { skip: !hasPython && "python3 is not installed here" }, () => {
  test("the contract's example parses", async () => {
    assert.equal(await checker.check("python3", 'def handler(event, context):\n    return {"hello": event["name"]}\n'), null);
  });

  test("a syntax error is refused with its line", async () => {
    const problem = await checker.check("python3", "import json\n\ndef handler(event, context:\n    return 1\n");
    assert.match(problem ?? "", /^line 3: /);
  });

  test("an indentation error is refused", async () => {
    assert.notEqual(await checker.check("python3", "def handler(event, context):\nreturn 1\n"), null);
  });

  test("non-ASCII source parses", async () => {
    assert.equal(await checker.check("python3", 'def handler(event, context):\n    return "héllo ✓"\n'), null);
  });
});

test("without a Python interpreter the check is skipped, not failed", async () => {
  const none = new SyntaxChecker({ pythonBin: "/nonexistent/python3" }, log);
  assert.equal(await none.check("python3", "def broken(:\n"), null);
  assert.equal(await none.check("python3", "def broken(:\n"), null, "and stays skipped");
});
