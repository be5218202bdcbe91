// Tests core.wasm as the extension meets it: Node loads dist/wasm_exec.js and
// dist/core.wasm (built by `make wasm`), waits for globalThis.parleyCore and
// calls every function with good and bad input. Expected values come from
// the core's own vectors (testdata/vectors) and from dist/expected.json,
// which a native build of the core writes (`make wasm-node-test` runs
// `go run ./wasm/internal/expected`). It builds nothing itself.
//
//	make wasm-node-test      # or, after make wasm and the expected.json step:
//	node --test wasm/test/
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = process.env.PARLEY_DIST ?? path.join(root, 'dist');
const readJSON = (...p) => JSON.parse(fs.readFileSync(path.join(...p), 'utf8'));
const hex = (u8) => Buffer.from(u8).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));

// Every documented error code (docs/WASM.md §Errors).
const CODES = new Set(['bad_argument', 'too_large', 'bad_identity', 'bad_invite', 'invite_checksum',
  'invite_expired', 'unsupported_version', 'internal']);

let core, expected, safety, invites;

before(async () => {
  expected = readJSON(dist, 'expected.json');
  safety = readJSON(root, 'testdata/vectors/safety.json').cases;
  invites = readJSON(root, 'testdata/vectors/invite.json');
  // wasm_exec.js is a classic script that defines globalThis.Go, as a
  // <script> tag would.
  vm.runInThisContext(fs.readFileSync(path.join(dist, 'wasm_exec.js'), 'utf8'), { filename: 'wasm_exec.js' });
  const go = new globalThis.Go();
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(path.join(dist, 'core.wasm')), go.importObject);
  go.run(instance); // resolves only if the program exits, which it must not
  for (let i = 0; !globalThis.parleyCore && i < 100; i++) await new Promise((r) => setTimeout(r, 10));
  core = globalThis.parleyCore;
  assert.ok(core, 'parleyCore was not registered');
});

// call invokes a function and checks the reply's shape: a plain object with
// a boolean ok; on failure a non-empty message and a documented code.
function call(name, ...args) {
  const r = core[name](...args);
  assert.equal(typeof r, 'object', `${name}: reply is not an object`);
  assert.equal(typeof r.ok, 'boolean', `${name}: ok is not a boolean`);
  if (r.ok) {
    assert.equal(r.error, undefined);
    assert.equal(r.code, undefined);
  } else {
    assert.equal(typeof r.error, 'string');
    assert.ok(r.error.length > 0);
    assert.ok(CODES.has(r.code), `${name}: unknown code ${r.code}`);
  }
  return r;
}

function fails(code, name, ...args) {
  const r = call(name, ...args);
  assert.equal(r.ok, false, `${name}: want ${code}, got ok: ${JSON.stringify(r)}`);
  assert.equal(r.code, code, `${name}: want ${code}, got ${r.code}: ${r.error}`);
  return r;
}

test('parleyCore is frozen and has exactly the documented functions', () => {
  assert.ok(Object.isFrozen(core));
  assert.deepEqual(Object.keys(core).sort(),
    ['inviteQR', 'parseInvite', 'previewSize', 'previewSizes', 'previewText', 'safetyNumber', 'version']);
  for (const f of Object.values(core)) assert.equal(typeof f, 'function');
});

test('version reports the API, protocol and limits of the core', () => {
  const r = call('version');
  assert.equal(r.ok, true);
  assert.equal(r.api, expected.api);
  assert.equal(r.protocol, expected.protocol);
  assert.equal(r.maxText, expected.maxText);
  assert.equal(r.maxInviteText, expected.maxInviteText);
  assert.equal(r.identitySize, expected.identitySize);
  assert.equal(r.maxBatch, expected.maxBatch);
  assert.deepEqual(r.buckets, expected.buckets);
  assert.equal(r.qrLevel, 'M');
  assert.equal(r.qrQuietZone, 4);
  assert.match(r.go, /^go1\./);
  fails('bad_argument', 'version', 1);
});

test('previewSize agrees with session.BlobSize at every bucket boundary', () => {
  assert.ok(expected.sizes.length > 20);
  for (const s of expected.sizes) {
    const r = call('previewSize', s.length, s.pq);
    if (s.blobSize === undefined) {
      assert.equal(r.code, 'too_large', `length ${s.length}`);
      assert.equal(r.maxText, expected.maxText);
    } else {
      assert.equal(r.ok, true, `length ${s.length}: ${r.error}`);
      assert.equal(r.blobSize, s.blobSize, `length ${s.length} pq ${s.pq}`);
      assert.equal(r.bucket, s.bucket);
      assert.equal(r.blobSize, r.bucket + expected.sealOverhead);
      assert.equal(r.maxText, expected.maxText);
    }
  }
  // Hard-coded anchors: an empty message without a PQ step fills the
  // smallest bucket (envelope.Bucket256 + envelope.SealOverhead = 284).
  assert.equal(call('previewSize', 0, false).blobSize, 256 + 28);
  assert.equal(call('previewSize', -0, false).blobSize, 284);
  for (const big of [expected.maxText + 1, 1e300, Number.MAX_SAFE_INTEGER, 2 ** 64]) {
    assert.equal(fails('too_large', 'previewSize', big, false).maxText, expected.maxText);
  }
});

test('previewSize rejects every malformed argument', () => {
  for (const bad of [-1, 1.5, NaN, Infinity, -Infinity, '5', 5n, null, undefined, {}, [], [5], true,
    Symbol('x'), () => 5, new Number(5), { valueOf: () => 5 }]) {
    fails('bad_argument', 'previewSize', bad, false);
  }
  for (const bad of ['true', 1, 0, null, undefined, new Boolean(true), 1n]) {
    fails('bad_argument', 'previewSize', 10, bad);
  }
  fails('bad_argument', 'previewSize');
  fails('bad_argument', 'previewSize', 10);
  fails('bad_argument', 'previewSize', 10, false, 'extra');
});

test('previewText measures UTF-8 bytes, not UTF-16 code units', () => {
  const cases = [['', 0], ['hello', 5], ['é', 2], ['€', 3], ['😀', 4], ['\ud800', 3] /* lone surrogate → U+FFFD */,
    ['a'.repeat(expected.maxText), expected.maxText]];
  for (const [text, bytes] of cases) {
    for (const pq of [false, true]) {
      const r = call('previewText', text, pq);
      assert.equal(r.ok, true, r.error);
      assert.equal(r.textBytes, bytes, JSON.stringify(text.slice(0, 5)));
      const s = call('previewSize', bytes, pq);
      assert.equal(r.blobSize, s.blobSize);
      assert.equal(r.bucket, s.bucket);
    }
  }
  // Fits in code units but not in bytes.
  const k = Math.floor(expected.maxText / 2) + 1;
  const r = fails('too_large', 'previewText', 'é'.repeat(k), false);
  assert.equal(r.textBytes, 2 * k);
  // Over the limit in code units: refused by length alone, even when huge.
  fails('too_large', 'previewText', 'a'.repeat(expected.maxText + 1), false);
  const t0 = performance.now();
  fails('too_large', 'previewText', 'x'.repeat(100_000_000), false);
  assert.ok(performance.now() - t0 < 50, 'a 100 MB string was read');
  for (const bad of [5, null, undefined, new String('hi'), ['hi'], new Uint8Array(2), 5n]) {
    fails('bad_argument', 'previewText', bad, false);
  }
  fails('bad_argument', 'previewText', 'hi', 'yes');
});

test('previewSizes answers many lengths in one call', (t) => {
  const lengths = expected.sizes.map((s) => s.length);
  for (const pq of [false, true]) {
    const r = call('previewSizes', lengths, pq);
    assert.equal(r.ok, true, r.error);
    assert.equal(r.maxText, expected.maxText);
    assert.equal(r.blobSizes.length, lengths.length);
    assert.equal(r.buckets.length, lengths.length);
    lengths.forEach((n, i) => {
      const s = call('previewSize', n, pq);
      assert.equal(r.blobSizes[i], s.ok ? s.blobSize : 0, `length ${n}`);
      assert.equal(r.buckets[i], s.ok ? s.bucket : 0);
    });
  }
  assert.deepEqual(call('previewSizes', [], false).blobSizes, []);
  assert.equal(call('previewSizes', [1e300, -0], false).blobSizes[0], 0);
  assert.match(fails('bad_argument', 'previewSizes', [1, -2, 3], false).error, /lengths\[1\]/);
  for (const bad of [[1, '2'], [1, null], [, 1], [1n], [{}], [1, NaN], [Infinity], [1, undefined], [[1]]]) {
    fails('bad_argument', 'previewSizes', bad, false);
  }
  const cyclic = [1]; cyclic.push(cyclic);
  fails('bad_argument', 'previewSizes', cyclic, false);
  // One entry whose JSON is huge: refused by the JSON's length, unread.
  fails('bad_argument', 'previewSizes', [new Array(1_000_000).fill(12345)], false);
  // Entries are read as JSON.stringify writes them: a boxed number is a number.
  assert.equal(call('previewSizes', [new Number(5)], false).blobSizes[0], call('previewSize', 5, false).blobSize);
  fails('too_large', 'previewSizes', new Array(expected.maxBatch + 1).fill(1), false);
  fails('too_large', 'previewSizes', new Array(2 ** 31), false); // sparse: refused by length, never read
  for (const bad of [new Float64Array(3), '123', 3, null, { length: 2, 0: 1, 1: 2 }]) {
    fails('bad_argument', 'previewSizes', bad, false);
  }
  fails('bad_argument', 'previewSizes', [1], 'no');

  // The batch amortises the per-call cost of crossing into Go.
  const n = 1000, many = Array.from({ length: n }, (_, i) => (i * 61) % (expected.maxText + 100));
  for (let i = 0; i < 3; i++) core.previewSizes(many, false); // warm up the JIT
  let t0 = performance.now();
  for (const len of many) core.previewSize(len, false);
  const single = (performance.now() - t0) / n;
  t0 = performance.now();
  const r = core.previewSizes(many, false);
  const batched = (performance.now() - t0) / n;
  assert.equal(r.ok, true);
  t.diagnostic(`previewSize ${(single * 1000).toFixed(1)} µs/call; previewSizes ${(batched * 1000).toFixed(2)} µs/length`);
  assert.ok(batched < single, 'batch is not cheaper per length');
});

test('safetyNumber replays core/identity vectors in either order', () => {
  assert.ok(safety.length > 0);
  for (const c of safety) {
    const a = unhex(c.a_public), b = unhex(c.b_public);
    for (const [x, y] of [[a, b], [b, a]]) {
      const r = call('safetyNumber', x, y);
      assert.equal(r.ok, true, r.error);
      assert.equal(r.digits, c.digits);
      assert.deepEqual(r.emoji, c.emoji);
    }
  }
  // A view into a larger buffer reads only its own bytes.
  const buf = new Uint8Array(300);
  buf.set(unhex(safety[0].a_public), 17);
  assert.equal(call('safetyNumber', buf.subarray(17, 17 + 130), unhex(safety[0].b_public)).digits, safety[0].digits);
});

test('safetyNumber rejects anything but two encoded public identities', () => {
  const a = unhex(safety[0].a_public), b = unhex(safety[0].b_public);
  for (const n of [0, 1, 129, 131, 1 << 20]) {
    assert.match(fails('bad_identity', 'safetyNumber', new Uint8Array(n), b).error, new RegExp(`want 130 bytes, got ${n}`));
    fails('bad_identity', 'safetyNumber', a, new Uint8Array(n));
  }
  fails('bad_identity', 'safetyNumber', crypto.getRandomValues(new Uint8Array(130)), b);
  const flipped = a.slice(); flipped[70] ^= 1;
  fails('bad_identity', 'safetyNumber', flipped, b);
  const v2 = a.slice(); v2[1] = 2;
  fails('unsupported_version', 'safetyNumber', v2, b);
  const lying = a.slice(); Object.defineProperty(lying, 'length', { get() { throw new Error('boom'); } });
  const proxy = new Proxy(a.slice(), {});
  for (const bad of [a.buffer, new DataView(a.buffer), new Int8Array(a), new Uint8ClampedArray(a), Buffer.from(a).toString('hex'),
    Array.from(a), proxy, lying, null, undefined, 130, {}]) {
    fails('bad_argument', 'safetyNumber', bad, b);
    fails('bad_argument', 'safetyNumber', b, bad);
  }
  // A Node Buffer is a Uint8Array.
  assert.equal(call('safetyNumber', Buffer.from(a), Buffer.from(b)).ok, true);
});

// secrets are every form of an invite's secret material a reply must never
// contain: the secret, the first-contact token and seal key, in hex.
const secrets = (v) => [v.invite_secret, v.first_contact_token, v.first_contact_seal_key];
function assertNoSecret(r, v) {
  const flat = JSON.stringify(r, (_, x) => (x instanceof Uint8Array ? hex(x) : x));
  for (const s of secrets(v)) assert.ok(!flat.includes(s), 'a reply holds secret material');
}

test('parseInvite returns the public fields of core/invite vectors, never the secret', () => {
  assert.ok(invites.length > 0);
  for (const v of invites) {
    const now = Number(v.now), expires = Number(v.expires);
    const r = call('parseInvite', v.text, now);
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(Object.keys(r).sort(), ['expires', 'expiresIn', 'fingerprint', 'inviter', 'ok', 'relay']);
    assert.equal(r.fingerprint, v.fingerprint);
    assert.equal(r.relay, v.relay_address);
    assert.equal(r.expires, expires);
    assert.equal(r.expiresIn, expires - now);
    assert.ok(r.inviter instanceof Uint8Array);
    assert.equal(hex(r.inviter), v.inviter_identity);
    assertNoSecret(r, v);
    assert.equal(call('parseInvite', v.text, expires - 1).ok, true);
    assertNoSecret(fails('invite_expired', 'parseInvite', v.text, expires), v);
    const typo = v.text.slice(0, 200) + (v.text[200] === 'a' ? 'b' : 'a') + v.text.slice(201);
    assertNoSecret(fails('invite_checksum', 'parseInvite', typo, now), v);
    for (const bad of ['', 'parley:', v.text.toUpperCase(), v.text.slice(7), ` ${v.text}`, 'parley:!!!', 'https://parley.example/']) {
      const e = call('parseInvite', bad, now);
      assert.ok(e.code === 'bad_invite' || e.code === 'invite_checksum', `${bad.slice(0, 12)}: ${e.code}`);
      assertNoSecret(e, v);
    }
  }
});

test('parseInvite and inviteQR bound and type-check their arguments', () => {
  const v = invites[0], now = Number(v.now);
  for (const fn of ['parseInvite', 'inviteQR']) {
    fails('too_large', fn, 'p'.repeat(expected.maxInviteText + 1), now);
    fails('too_large', fn, 'parley:' + 'a'.repeat(50_000_000), now);
    for (const bad of [0, -1, 1.5, NaN, Infinity, 253402300800, String(now), BigInt(now), null, undefined, new Date()]) {
      fails('bad_argument', fn, v.text, bad);
    }
    for (const bad of [null, undefined, 5, new TextEncoder().encode(v.text), [v.text], new String(v.text), { toString: () => v.text }]) {
      fails('bad_argument', fn, bad, now);
    }
    fails('bad_argument', fn, v.text);
    assert.equal(call(fn, v.text, 1).ok, false); // before the prekeys were signed
  }
});

test('inviteQR draws the invite bytes at level M, identically to the native build', () => {
  for (const v of invites) {
    const r = call('inviteQR', v.text, Number(v.now));
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(Object.keys(r).sort(), ['level', 'modules', 'ok', 'quietZone', 'size', 'version']);
    const want = expected.qr.find((q) => q.name === v.name);
    assert.equal(r.size, want.size);
    assert.equal(r.version, want.version);
    assert.equal(r.size, 4 * r.version + 17);
    assert.equal(r.level, 'M');
    assert.equal(r.quietZone, 4);
    assert.ok(r.modules instanceof Uint8Array);
    assert.equal(r.modules.length, r.size * r.size);
    assert.ok(r.modules.every((m) => m === 0 || m === 1));
    assert.equal(crypto.createHash('sha256').update(r.modules).digest('hex'), want.modulesSha256);
    // Finder pattern in the top-left corner: a dark 7×7 ring.
    for (let i = 0; i < 7; i++) assert.equal(r.modules[i], 1);
    fails('invite_expired', 'inviteQR', v.text, Number(v.expires));
  }
});

test('no input makes a function throw, and the module survives all of them', () => {
  const hostile = [
    undefined, null, true, false, 0, -0, NaN, 1e308, -1e308, 2 ** 53, 5n, '', 'x', 'parley:', 'x'.repeat(1_000_000),
    '\ud800', Symbol('s'), {}, [], [1, 2], [NaN], new Array(5), Object.create(null), () => 1, new Uint8Array(3),
    new Uint8Array(130), new Float32Array(130), new ArrayBuffer(8), new Proxy([], { get() { throw new Error('get'); } }),
    new Proxy({}, { getPrototypeOf() { throw new Error('proto'); } }), new Proxy(new Uint8Array(130), {}),
    { get length() { throw new Error('length'); } },
    Object.defineProperty([1, 2, 3], 0, { get() { throw new Error('index'); } }),
    Object.defineProperty(new Uint8Array(130), 'length', { get() { throw new Error('length'); } }),
    { valueOf() { throw new Error('valueOf'); }, toString() { throw new Error('toString'); } },
    new Date(0), /re/, new Map(), Promise.resolve(1),
  ];
  let calls = 0;
  for (const name of Object.keys(core)) {
    const f = core[name];
    for (const x of hostile) {
      for (const args of [[x], [x, false], [x, 1735689600], [1, x], ['parley:', x], [new Uint8Array(130), x], [x, x, x]]) {
        let r;
        assert.doesNotThrow(() => { r = f(...args); }, `${name}(${String(typeof x)})`);
        assert.equal(typeof r?.ok, 'boolean', `${name}: ${JSON.stringify(r)}`);
        if (!r.ok) assert.ok(CODES.has(r.code));
        assert.notEqual(r.code, 'internal', `${name}: internal error: ${r.error}`);
        calls++;
      }
    }
  }
  assert.ok(calls > 1000);
  assert.equal(call('version').ok, true, 'the module died');
  assert.equal(call('previewSize', 10, false).ok, true);
});
