// Cross-checks wasm/qr against independent implementations (a dev-time
// check; see README.md). Input: the file `go test ./wasm/qr -run Dump
// -dump FILE` writes. Needs the npm packages qrcode (an encoder) and jsqr (a
// decoder) on NODE_PATH, and uses zbarimg (Debian zbar-tools) when present.
//
//	node wasm/qr/testdata/crosscheck.mjs FILE
//
// For every symbol it checks that:
//   1. node-qrcode, given the same text, mode, version, level and mask,
//      draws the identical matrix;
//   2. jsQR and zbarimg decode it, with a 4-module quiet zone, to the text;
//   3. for symbols whose mask Encode chose, the chosen mask has the lowest
//      penalty among the eight, scored here by a separate implementation of
//      ISO/IEC 18004:2015 Table 11 (the reading described in penalty.go).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(path.join(process.cwd(), 'noop.js'));
const QRCode = require('qrcode');
const jsQR = require('jsqr');
const items = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

let zbar = true;
try { execFileSync('zbarimg', ['--version'], { stdio: 'ignore' }); } catch { zbar = false; }
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qr-crosscheck-'));

function pixels(rows, scale, quiet = 4) {
  const n = rows.length, w = (n + 2 * quiet) * scale;
  const dark = (x, y) => {
    const mx = Math.floor(x / scale) - quiet, my = Math.floor(y / scale) - quiet;
    return mx >= 0 && my >= 0 && mx < n && my < n && rows[my][mx] === '1';
  };
  return { w, dark };
}

function jsqrDecode(rows) {
  const { w, dark } = pixels(rows, 3);
  const px = new Uint8ClampedArray(w * w * 4).fill(255);
  for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) if (dark(x, y)) {
    const o = (y * w + x) * 4; px[o] = px[o + 1] = px[o + 2] = 0;
  }
  const r = jsQR(px, w, w, { inversionAttempts: 'dontInvert' });
  return r ? Buffer.from(r.binaryData) : null;
}

function zbarDecode(rows, k) {
  const { w, dark } = pixels(rows, 2);
  const lines = [];
  for (let y = 0; y < w; y++) { let l = ''; for (let x = 0; x < w; x++) l += dark(x, y) ? '1' : '0'; lines.push(l); }
  const f = path.join(tmp, `${k}.pbm`);
  fs.writeFileSync(f, `P1\n${w} ${w}\n${lines.join('\n')}\n`);
  try {
    return execFileSync('zbarimg', ['-q', '--raw', '-Sbinary', f], { stdio: ['ignore', 'pipe', 'ignore'] });
  } catch { return null; }
}

function penalty(rows) {
  const n = rows.length, g = (y, x) => rows[y].charCodeAt(x) - 48;
  let p = 0, dark = 0;
  for (const horizontal of [true, false]) for (let i = 0; i < n; i++) {
    const line = Array.from({ length: n }, (_, j) => horizontal ? g(i, j) : g(j, i));
    let run = 1;
    for (let j = 1; j <= n; j++) {
      if (j < n && line[j] === line[j - 1]) { run++; continue; }
      if (run >= 5) p += 3 + run - 5;
      run = 1;
    }
    const light = (a, b) => { for (let k = Math.max(a, 0); k < Math.min(b, n); k++) if (line[k]) return false; return true; };
    for (let j = 0; j + 7 <= n; j++) {
      if (line.slice(j, j + 7).join('') === '1011101' && (light(j - 4, j) || light(j + 7, j + 11))) p += 40;
    }
  }
  for (let y = 0; y < n - 1; y++) for (let x = 0; x < n - 1; x++) {
    const c = g(y, x);
    if (g(y, x + 1) === c && g(y + 1, x) === c && g(y + 1, x + 1) === c) p += 3;
  }
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) dark += g(y, x);
  return p + Math.floor(Math.abs(2 * dark - n * n) * 10 / (n * n)) * 10;
}

const count = { symbols: 0, identical: 0, jsqr: 0, jsqrKnownV23: 0, zbar: 0, masks: 0 };
const failures = [];
const forced = new Map();
items.forEach((it, k) => {
  count.symbols++;
  const bytes = Buffer.from(it.text, 'utf8');
  if (it.text !== '') { // node-qrcode refuses empty input
    const q = QRCode.create([{ data: it.mode === 'byte' ? bytes : it.text, mode: it.mode }],
      { version: it.version, errorCorrectionLevel: it.level, maskPattern: it.mask });
    let same = q.modules.size === it.rows.length;
    for (let y = 0; same && y < it.rows.length; y++) for (let x = 0; same && x < it.rows.length; x++) {
      same = (q.modules.get(y, x) ? '1' : '0') === it.rows[y][x];
    }
    if (same) count.identical++; else failures.push(`node-qrcode differs: ${it.name}`);
  }
  const j = jsqrDecode(it.rows);
  if (j && j.equals(bytes)) count.jsqr++;
  // jsQR 1.4.0 lists version 23's alignment centres as 6 30 54 74 102
  // instead of 6 30 54 78 102 (Table E.1), so it misreads some version 23
  // symbols; with that one number corrected it reads all of them.
  else if (it.version === 23) count.jsqrKnownV23++;
  else failures.push(`jsQR: ${it.name} (v${it.version}-${it.level} mask ${it.mask})`);
  if (zbar && it.text !== '') {
    const z = zbarDecode(it.rows, k);
    if (z && z.equals(bytes)) count.zbar++; else failures.push(`zbarimg: ${it.name}`);
  }
  if (!it.auto) {
    const key = `${it.text}\0${it.level}\0${it.version}`;
    if (!forced.has(key)) forced.set(key, []);
    forced.get(key)[it.mask] = penalty(it.rows);
  }
});
for (const it of items.filter(i => i.auto)) {
  const scores = forced.get(`${it.text}\0${it.level}\0${it.version}`);
  if (!scores || scores.filter(s => s !== undefined).length !== 8) continue;
  const best = scores.indexOf(Math.min(...scores));
  if (best === it.mask) count.masks++; else failures.push(`mask: ${it.name} chose ${it.mask}, lowest penalty ${best} (${scores})`);
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(JSON.stringify(count), zbar ? '' : '(zbarimg not found: skipped)');
for (const f of failures) console.log('FAIL', f);
process.exitCode = failures.length ? 1 : 0;
