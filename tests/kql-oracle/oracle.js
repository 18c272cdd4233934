// The oracle for huntd's KQL parser tests: Microsoft's own Kusto parser (Kusto.Language, compiled
// to JavaScript by Bridge.NET and published as @kusto/language-service-next).
//
// Reads one JSON string per line on stdin (a query's text) and writes, for each, one JSON line:
// {"diagnostics":[{"code","message","start","length","severity"}]}, syntax diagnostics only.
// Offsets are UTF-16 code units, as JavaScript strings count them; the Rust side converts.
"use strict";
const readline = require("readline");

// Bridge.NET's runtime defines `Bridge` as a global; the Kusto bundle then defines `Kusto`.
require("@kusto/language-service-next/bridge.min.js");
require("@kusto/language-service-next/Kusto.Language.Bridge.min.js");
const Kusto = globalThis.Kusto;

function diagnostics(text) {
  const code = Kusto.Language.KustoCode.Parse(text);
  const list = code.GetDiagnostics();
  const out = [];
  const count = list.Count;
  for (let i = 0; i < count; i++) {
    const d = list.getItem(i);
    out.push({
      code: d.Code,
      message: d.Message,
      start: d.Start,
      length: d.Length,
      severity: d.Severity,
    });
  }
  return out;
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (line.length === 0) return;
  let result;
  try {
    result = { diagnostics: diagnostics(JSON.parse(line)) };
  } catch (e) {
    result = { error: String(e) };
  }
  process.stdout.write(JSON.stringify(result) + "\n");
});
