// literals.mjs: parses KQL queries with Kusto.Language (Microsoft's KQL
// parser, npm @kusto/language-service-next, installed beside
// ../analyse/analyse.mjs) and returns, per query, the number of syntax
// diagnostics and every string literal's value and bracketed name, as
// code points, so that the test can compare them with what it converted.
//
// Usage: node literals.mjs < queries.json > literals.json
// Input: ["query", ...]. Output: [{"diagnostics": N, "strings": [[cp,
// ...], ...], "names": [[cp, ...], ...]}, ...].
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const require = createRequire(fileURLToPath(new URL('../analyse/package.json', import.meta.url)));
require('@kusto/language-service-next/bridge.js');
require('@kusto/language-service-next/Kusto.Language.Bridge.js');
const K = globalThis.Kusto.Language;
const points = (s) => Array.from(s).map((c) => c.codePointAt(0));

const out = [];
for (const text of JSON.parse(readFileSync(0, 'utf8'))) {
	const code = K.KustoCode.Parse(text);
	const strings = [];
	const names = [];
	code.Syntax.WalkElements((e) => {
		if (e.Kind === K.Syntax.SyntaxKind.StringLiteralExpression) strings.push(points(e.LiteralValue));
		if (e.Kind === K.Syntax.SyntaxKind.BracketedName) names.push(points(e.SimpleName));
	});
	out.push({ diagnostics: code.GetDiagnostics().Count, strings, names });
}
process.stdout.write(JSON.stringify(out));
