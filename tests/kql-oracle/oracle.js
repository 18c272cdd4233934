// The oracle for huntd's KQL parser tests: Microsoft's own Kusto parser (Kusto.Language, compiled
// to JavaScript by Bridge.NET and published as @kusto/language-service-next).
//
// Reads one JSON string per line on stdin (a query's text) and writes, for each, one JSON line:
// {"diagnostics":[{"code","message","start","length","severity"}]}: syntax diagnostics only, or,
// with `--schema FILE` (a JSON object of table name to "(Column:type, ...)"), also the semantic
// ones of analysing the query against a database of those tables (unknown names, types).
// Offsets are UTF-16 code units, as JavaScript strings count them; the Rust side converts.
"use strict";
const readline = require("readline");

// Bridge.NET's runtime defines `Bridge` as a global; the Kusto bundle then defines `Kusto`.
require("@kusto/language-service-next/bridge.min.js");
require("@kusto/language-service-next/Kusto.Language.Bridge.min.js");
const Kusto = globalThis.Kusto;

// The database `--schema FILE` describes, as Kusto.Language's global state; null without one.
function globals() {
  const at = process.argv.indexOf("--schema");
  if (at < 0) return null;
  const tables = JSON.parse(require("fs").readFileSync(process.argv[at + 1], "utf8"));
  const Symbols = Kusto.Language.Symbols;
  // TableSymbol's (name, schema text) constructor, and DatabaseSymbol's (name, members).
  const symbols = Object.entries(tables).map(
    ([name, schema]) => new Symbols.TableSymbol.$ctor7(name, schema)
  );
  const database = new Symbols.DatabaseSymbol.ctor("hunting", symbols);
  return Kusto.Language.GlobalState.Default.WithDatabase(database);
}

const state = globals();

function diagnostics(text) {
  const code = state
    ? Kusto.Language.KustoCode.ParseAndAnalyze(text, state)
    : Kusto.Language.KustoCode.Parse(text);
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
