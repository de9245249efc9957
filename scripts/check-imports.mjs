#!/usr/bin/env node
//! Finds import circles between the files of `src/`: builds the file-level graph of `use` and
//! in-code `crate::` / `super::` / `self::` / child-module paths (test-only code aside), prints
//! every strongly connected component of more than one file with its edges, and exits 1 if any.
//!
//! Usage: node scripts/check-imports.mjs [--edges] [src-dir]
//!   --edges  also print every edge of the graph (for checking the parser by hand)

import { existsSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const args = process.argv.slice(2);
const printEdges = args.includes("--edges");
const srcDir = resolve(args.find((a) => !a.startsWith("--")) ?? "src");
const root = join(srcDir, "lib.rs");

/// Source text with comments, string and char literals blanked (same length, newlines kept).
function stripNoise(text) {
  let out = "";
  let i = 0;
  const n = text.length;
  const blank = (s) => s.replace(/[^\n]/g, " ");
  while (i < n) {
    const c = text[i];
    const next = text[i + 1];
    if (c === "/" && next === "/") {
      const end = text.indexOf("\n", i);
      const stop = end < 0 ? n : end;
      out += blank(text.slice(i, stop));
      i = stop;
    } else if (c === "/" && next === "*") {
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (text[j] === "/" && text[j + 1] === "*") (depth++, (j += 2));
        else if (text[j] === "*" && text[j + 1] === "/") (depth--, (j += 2));
        else j++;
      }
      out += blank(text.slice(i, j));
      i = j;
    } else if (/[rb]/.test(c) && /^(?:br|r)#*"/.test(text.slice(i, i + 40)) && !/\w/.test(text[i - 1] ?? "")) {
      const m = /^(?:br|r)(#*)"/.exec(text.slice(i));
      const close = '"' + m[1];
      const end = text.indexOf(close, i + m[0].length);
      const stop = end < 0 ? n : end + close.length;
      out += blank(text.slice(i, stop));
      i = stop;
    } else if (c === '"' || (c === "b" && next === '"' && !/\w/.test(text[i - 1] ?? ""))) {
      let j = c === "b" ? i + 2 : i + 1;
      while (j < n && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += blank(text.slice(i, j + 1));
      i = j + 1;
    } else if (c === "'") {
      // A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
      const m = /^'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'/su.exec(text.slice(i, i + 12));
      const len = m ? m[0].length : 1;
      out += blank(text.slice(i, i + len));
      i += len;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/// Index of the brace that closes the one opening at `open`.
function matchBrace(code, open) {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === "{") depth++;
    else if (code[i] === "}" && --depth === 0) return i;
  }
  return code.length - 1;
}

/// Blanks every item marked `#[cfg(test)]` (test modules, test-only `mod x;` and helpers).
function dropTestItems(code) {
  const attr = /#\[\s*cfg\s*\(\s*test\s*\)\s*\]/g;
  let m;
  while ((m = attr.exec(code))) {
    let i = m.index + m[0].length;
    // The item ends at its first `;` before any `{`, or at the brace closing its first `{`.
    let end = i;
    while (end < code.length && code[end] !== ";" && code[end] !== "{") end++;
    if (code[end] === "{") end = matchBrace(code, end);
    code = code.slice(0, m.index) + code.slice(m.index, end + 1).replace(/[^\n]/g, " ") + code.slice(end + 1);
    attr.lastIndex = end + 1;
  }
  return code;
}

/// Expands a use tree (`a::{b, c::{d as e, self}, *}`) into plain paths (segment arrays).
function expandUse(tree) {
  const paths = [];
  const walk = (prefix, text) => {
    text = text.trim();
    const brace = text.indexOf("{");
    if (brace < 0) {
      const path = text.replace(/\s+as\s+\w+$/, "").split("::").map((s) => s.trim()).filter(Boolean);
      const full = [...prefix, ...path];
      if (full.at(-1) === "self") full.pop();
      if (full.length) paths.push(full);
      return;
    }
    const head = text.slice(0, brace).replace(/::\s*$/, "").split("::").map((s) => s.trim()).filter(Boolean);
    const inner = text.slice(brace + 1, text.lastIndexOf("}"));
    let depth = 0;
    let start = 0;
    for (let i = 0; i <= inner.length; i++) {
      const ch = inner[i];
      if (ch === "{") depth++;
      else if (ch === "}") depth--;
      else if ((ch === "," && depth === 0) || i === inner.length) {
        if (inner.slice(start, i).trim()) walk([...prefix, ...head], inner.slice(start, i));
        start = i + 1;
      }
    }
  };
  walk([], tree);
  return paths;
}

/// A module: its file, its path from the crate root, its child modules (name → module).
const modules = new Map(); // key: module path joined by "::" ("" = crate root)
const files = new Map(); // file → { code, mods: [{path, start, end}] }

/// Reads a module file and every non-test module it declares, recursively.
function loadFile(file, modPath, dir) {
  const code = dropTestItems(stripNoise(readFileSync(file, "utf8")));
  const entry = { file, code, scopes: [] };
  files.set(file, entry);
  // Scopes: the file's module and its inline modules, by text range.
  const scan = (path, start, end, dirOfChildren) => {
    const mod = { path, file, children: new Map(), reexports: new Map() };
    modules.set(path.join("::"), mod);
    entry.scopes.push({ mod, start, end });
    const re = /\b(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(\w+)\s*([;{])/g;
    re.lastIndex = start;
    let m;
    while ((m = re.exec(code)) && m.index < end) {
      const name = m[1];
      if (m[2] === "{") {
        const open = m.index + m[0].length - 1;
        const close = matchBrace(code, open);
        mod.children.set(name, scan([...path, name], open + 1, close, join(dirOfChildren, name)));
        re.lastIndex = close + 1;
      } else {
        const asFile = join(dirOfChildren, `${name}.rs`);
        const asDir = join(dirOfChildren, name, "mod.rs");
        const childFile = existsSync(asFile) ? asFile : existsSync(asDir) ? asDir : null;
        if (!childFile) continue;
        loadFile(childFile, [...path, name], join(dirOfChildren, name));
        mod.children.set(name, modules.get([...path, name].join("::")));
      }
    }
    return mod;
  };
  scan(modPath, 0, code.length, dir);
}

loadFile(root, [], srcDir);

/// The innermost module whose text range holds `pos` in `entry`.
function scopeAt(entry, pos) {
  let best = entry.scopes[0].mod;
  let size = Infinity;
  for (const s of entry.scopes) {
    if (s.start <= pos && pos <= s.end && s.end - s.start < size) {
      best = s.mod;
      size = s.end - s.start;
    }
  }
  return best;
}

/// Absolute module path segments for a path written in `scope`, or null (another crate).
function absolute(scope, segs) {
  let base;
  let rest = segs;
  if (segs[0] === "crate") (base = []), (rest = segs.slice(1));
  else if (segs[0] === "self") (base = scope.path), (rest = segs.slice(1));
  else if (segs[0] === "super") {
    base = scope.path;
    while (rest[0] === "super") (base = base.slice(0, -1)), (rest = rest.slice(1));
  } else if (scope.children.has(segs[0])) base = scope.path;
  else return null;
  if (rest[0] === "self") rest = rest.slice(1);
  return [...base, ...rest];
}

/// The file that defines what an absolute path names, following `pub use` re-exports.
function resolvePath(abs, seen = new Set()) {
  let mod = modules.get("");
  let i = 0;
  while (i < abs.length && mod.children.has(abs[i])) mod = mod.children.get(abs[i++]);
  const item = abs[i];
  const key = `${mod.path.join("::")}::${item}`;
  if (item !== undefined && mod.reexports.has(item) && !seen.has(key)) {
    seen.add(key);
    return resolvePath([...mod.reexports.get(item), ...abs.slice(i + 1)], seen);
  }
  return mod.file;
}

// Pass 1: use statements (and their re-exports); pass 2: in-code paths.
const useRe = /\b(pub(?:\s*\([^)]*\))?\s+)?use\s+([^;]+);/g;
const uses = new Map(); // file → [{scope, abs}]
for (const entry of files.values()) {
  const found = [];
  let m;
  while ((m = useRe.exec(entry.code))) {
    const scope = scopeAt(entry, m.index);
    for (const segs of expandUse(m[2].replace(/^::/, ""))) {
      const abs = absolute(scope, segs);
      if (!abs) continue;
      found.push({ scope, abs, pub: Boolean(m[1]) });
      const last = segs.at(-1);
      const alias = /\bas\s+(\w+)\s*$/.exec(m[2]);
      if (m[1] && last !== "*") scope.reexports.set(alias && expandUse(m[2]).length === 1 ? alias[1] : last, abs);
    }
  }
  uses.set(entry.file, found);
}

const edges = new Map(); // file → Set(file)
const addEdge = (from, to) => {
  if (from === to) return;
  if (!edges.has(from)) edges.set(from, new Set());
  edges.get(from).add(to);
};
for (const entry of files.values()) {
  for (const { abs } of uses.get(entry.file)) addEdge(entry.file, resolvePath(abs));
  const code = entry.code.replace(useRe, (s) => s.replace(/[^\n]/g, " "));
  const pathRe = /(?<![\w:])((?:crate|self|super|[a-z_]\w*)(?:\s*::\s*\w+)+)/g;
  let m;
  while ((m = pathRe.exec(code))) {
    const segs = m[1].split("::").map((s) => s.trim());
    const abs = absolute(scopeAt(entry, m.index), segs);
    if (abs) addEdge(entry.file, resolvePath(abs));
  }
}

// Tarjan's strongly connected components.
const index = new Map();
const low = new Map();
const onStack = new Set();
const stack = [];
const components = [];
let counter = 0;
function strongConnect(v) {
  index.set(v, counter);
  low.set(v, counter++);
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!index.has(w)) {
      strongConnect(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1) components.push(comp.sort());
  }
}
for (const file of [...files.keys()].sort()) if (!index.has(file)) strongConnect(file);

const rel = (f) => relative(process.cwd(), f);
if (printEdges) {
  for (const from of [...edges.keys()].sort())
    for (const to of [...edges.get(from)].sort()) console.log(`${rel(from)} -> ${rel(to)}`);
}
for (const comp of components) {
  const inside = new Set(comp);
  console.log(`import circle of ${comp.length} files:`);
  for (const from of comp)
    for (const to of [...(edges.get(from) ?? [])].filter((t) => inside.has(t)).sort())
      console.log(`  ${rel(from)} -> ${rel(to)}`);
}
console.log(
  `${files.size} files, ${[...edges.values()].reduce((a, s) => a + s.size, 0)} edges, ${components.length} import circle(s)`,
);
process.exit(components.length ? 1 : 0);
