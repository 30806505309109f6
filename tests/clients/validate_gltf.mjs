// Validates glTF / GLB files with the Khronos glTF-Validator (npm gltf-validator) and prints one
// JSON report per file on stdout: {file, errors, warnings, infos, hints, messages, info}.
// Usage: node validate_gltf.mjs FILE.glb [FILE.glb ...]
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const validator = require("gltf-validator");

const reports = [];
for (const file of process.argv.slice(2)) {
  const bytes = new Uint8Array(await readFile(file));
  const report = await validator.validateBytes(bytes, {
    uri: file,
    maxIssues: 200,
    externalResourceFunction: () => Promise.reject(new Error("no external resources")),
  });
  reports.push({
    file,
    errors: report.issues.numErrors,
    warnings: report.issues.numWarnings,
    infos: report.issues.numInfos,
    hints: report.issues.numHints,
    messages: report.issues.messages,
    info: report.info,
  });
}
console.log(JSON.stringify(reports));
