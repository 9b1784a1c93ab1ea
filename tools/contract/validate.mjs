// Validates AsyncAPI documents with the official parser: the document must parse and carry
// no diagnostic of severity "error". Usage: node validate.mjs FILE...
// Prints one line per diagnostic (warnings too) and exits 1 when any document has an error.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Parser } from '@asyncapi/parser';

const SEVERITY = ['error', 'warning', 'info', 'hint'];
const parser = new Parser();
let failed = false;

for (const file of process.argv.slice(2)) {
  const source = resolve(file);
  const { document, diagnostics } = await parser.parse(await readFile(source, 'utf8'), { source });
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of diagnostics) {
    console.log(`${file}: ${SEVERITY[d.severity]} ${d.code} at ${d.path.join('.') || '/'}: ${d.message}`);
  }
  if (!document || errors.length) {
    failed = true;
    console.log(`${file}: INVALID (${errors.length} errors)`);
  } else {
    console.log(`${file}: valid AsyncAPI ${document.version()}`);
  }
}
process.exit(failed ? 1 : 0);
