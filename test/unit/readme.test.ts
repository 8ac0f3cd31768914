// The README is part of the contract: every configuration variable and every error code is documented there.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { CONFIG_SECTIONS, configTable } from "../../deploy/config-table.js";
import { ERROR_CODES } from "../../shared/errors.js";
import { INVOCATION_ERROR_CODES } from "../../shared/schemas/invocation.js";

const readme = readFileSync(resolve(import.meta.dirname, "../../README.md"), "utf8");

test("README documents every configuration variable, as deploy/config-table.ts prints it", () => {
  for (const [, fields] of CONFIG_SECTIONS) {
    for (const field of Object.values(fields)) assert.ok(readme.includes(`\`${field.env}\``), `${field.env} is missing from README.md`);
  }
  assert.ok(readme.includes(configTable()), "README's configuration table is stale: regenerate it with deploy/config-table.ts");
});

test("README documents every API error code and every invocation error code", () => {
  for (const code of Object.keys(ERROR_CODES)) assert.ok(readme.includes(`\`${code}\``), `${code} is missing from README.md`);
  for (const code of INVOCATION_ERROR_CODES) assert.ok(readme.includes(`\`${code}\``), `${code} is missing from README.md`);
});
