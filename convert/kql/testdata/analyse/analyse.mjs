// analyse.mjs: analyses KQL queries with Kusto.Language, Microsoft's KQL
// parser and semantic analyser (npm @kusto/language-service-next, pinned
// in package.json / package-lock.json beside this file), against the
// tables and ASIM functions of vigil's embedded schemas
// (convert/kql/schemas.json).
//
// Usage: node analyse.mjs SCHEMAS.json < queries.json > diagnostics.json
// Input: [{"db": "microsoft_xdr", "id": "...", "text": "..."}, ...], db
// naming a database of SCHEMAS.json. Output: [{"id": "...",
// "diagnostics": [{"severity", "code", "message", "start", "length"}]}]
// with every diagnostic Kusto.Language reports (errors and warnings).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
require('@kusto/language-service-next/bridge.js');
require('@kusto/language-service-next/Kusto.Language.Bridge.js');
const K = globalThis.Kusto.Language;
const S = K.Symbols;

const schemas = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const queries = JSON.parse(readFileSync(0, 'utf8'));

const q = (name) => "['" + name.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "']";
const decl = (columns) => '(' + Object.entries(columns).map(([c, t]) => q(c) + ':' + t).join(', ') + ')';

const globals = {};
function globalsFor(db) {
	if (globals[db]) return globals[db];
	const members = [];
	for (const [name, t] of Object.entries(schemas.databases[db] || {})) {
		if (t.kind === 'function') {
			// The parser's result is declared as the function's return
			// type (a table of its columns) rather than as a body the
			// analyser would re-bind at every call.
			const declared = new S.FunctionSymbol.$ctor16(name, t.parameters || '()', '{ datatable(x:string)[] }', null);
			const params = declared.Signatures.getItem(0).Parameters;
			members.push(new S.FunctionSymbol.$ctor6(name, new S.TableSymbol.$ctor7(name, decl(t.columns), null), params, null));
		} else {
			members.push(new S.TableSymbol.$ctor7(name, decl(t.columns), null));
		}
	}
	if (members.length === 0) throw new Error('no database ' + db + ' in the schemas');
	globals[db] = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.ctor(db, members));
	return globals[db];
}

const out = [];
for (const { db, id, text } of queries) {
	const code = K.KustoCode.ParseAndAnalyze(text, globalsFor(db));
	const ds = code.GetDiagnostics();
	const diagnostics = [];
	for (let i = 0; i < ds.Count; i++) {
		const d = ds.getItem(i);
		diagnostics.push({ severity: d.Severity, code: d.Code, message: d.Message, start: d.Start, length: d.Length });
	}
	out.push({ id, diagnostics });
}
process.stdout.write(JSON.stringify(out));
