// Prints the gzip size of the JS that index.html loads up front (entry + modulepreloads) and
// fails when it is over the budget in kB given as the first argument.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = resolve(import.meta.dirname, '..', 'dist');
const budget = Number(process.argv[2] ?? 300);
const html = await readFile(join(dist, 'index.html'), 'utf8');
const files = [...html.matchAll(/(?:src|href)="\/?(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
let total = 0;
for (const file of new Set(files)) total += gzipSync(await readFile(join(dist, file)), { level: 9 }).length;
const kb = total / 1000;
console.log(`console initial JS: ${files.length} file(s), ${kb.toFixed(1)} kB gzip (budget ${budget} kB)`);
if (!files.length || kb > budget) process.exit(1);
