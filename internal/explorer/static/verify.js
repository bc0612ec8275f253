// Mosaic explorer: checks in the browser that an entry is in the log, trusting
// only the log key the page carries (meta mosaic-log-key), never a later answer.
// Checkpoint signature (WebCrypto Ed25519 or ECDSA P-256), RFC 6962 leaf hash
// and inclusion proof (RFC 9162 section 2.1.3.2). Every text is written with
// textContent: nothing from the log or a bundle is ever parsed as HTML.
'use strict';
(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const origin = meta('mosaic-origin');
  const keyType = meta('mosaic-log-key-type');
  const logID = meta('mosaic-log-id');
  const utf8 = new TextEncoder();

  class CheckError extends Error {
    constructor(step, message) { super(message); this.step = step; }
  }
  const short = (s) => { s = String(s); return s.length > 80 ? s.slice(0, 80) + '…' : s; };

  function fromB64(s, what) {
    if (typeof s !== 'string' || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
      throw new CheckError(what, `not base64: "${short(s)}"`);
    }
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  const toB64 = (u8) => btoa(String.fromCharCode(...u8));
  const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join('');
  const equal = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  function decimal(s, what) {
    if (typeof s === 'number') s = String(s);
    if (typeof s !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(s)) throw new CheckError(what, `not a decimal number: "${short(s)}"`);
    return BigInt(s);
  }

  async function sha256(...parts) {
    const buf = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) { buf.set(p, off); off += p.length; }
    return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
  }
  const leafHash = (leaf) => sha256(Uint8Array.of(0), leaf);
  const nodeHash = (l, r) => sha256(Uint8Array.of(1), l, r);

  // rootFromInclusion is RFC 9162 2.1.3.2: the root the audit path leads to
  // from the leaf hash at index in a tree of size.
  async function rootFromInclusion(index, size, hash, path) {
    if (index >= size) throw new CheckError('inclusion proof', `index ${index} is not below tree size ${size}`);
    let fn = index, sn = size - 1n, r = hash;
    for (const p of path) {
      if (sn === 0n) throw new CheckError('inclusion proof', `the proof has more hashes than a tree of size ${size} needs`);
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new CheckError('inclusion proof', `the proof has too few hashes for a tree of size ${size}`);
    return r;
  }

  let keyPromise;
  function logKey() {
    const alg = keyType === 'Ed25519' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: 'P-256' };
    keyPromise ??= crypto.subtle.importKey('spki', fromB64(meta('mosaic-log-key'), 'log key'), alg, false, ['verify']);
    return keyPromise;
  }

  // derToP1363 turns an ASN.1 ECDSA signature into the r||s WebCrypto takes.
  function derToP1363(der) {
    let p = 0;
    const byte = () => { if (p >= der.length) throw new Error('short'); return der[p++]; };
    if (byte() !== 0x30) return null;
    let len = byte();
    if (len === 0x81) len = byte(); else if (len & 0x80) return null;
    if (p + len !== der.length) return null;
    const out = new Uint8Array(64);
    for (let k = 0; k < 2; k++) {
      if (byte() !== 0x02) return null;
      const l = byte();
      let v = der.slice(p, p + l);
      p += l;
      while (v.length > 32 && v[0] === 0) v = v.slice(1);
      if (v.length === 0 || v.length > 32 || p > der.length) return null;
      out.set(v, 32 * k + 32 - v.length);
    }
    return p === der.length ? out : null;
  }

  async function verifySignature(sig, msg) {
    const key = await logKey();
    if (keyType === 'Ed25519') return crypto.subtle.verify({ name: 'Ed25519' }, key, sig, msg);
    let raw;
    try { raw = derToP1363(sig); } catch { raw = null; }
    return raw !== null && crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, raw, msg);
  }

  // verifyCheckpoint checks a signed note (C2SP signed-note, tlog-checkpoint)
  // against the page's log key and returns its size and root.
  async function verifyCheckpoint(text) {
    if (typeof text !== 'string') throw new CheckError('checkpoint', 'no checkpoint was given');
    const cut = text.indexOf('\n\n');
    if (cut < 0) throw new CheckError('checkpoint', 'not a signed note: no blank line before the signatures');
    const body = text.slice(0, cut + 1);
    const [cpOrigin, sizeText, rootText] = body.split('\n');
    if (cpOrigin !== origin) throw new CheckError('checkpoint origin', `the checkpoint is of "${short(cpOrigin)}", not of this log, "${origin}"`);
    const size = decimal(sizeText, 'checkpoint');
    const root = fromB64(rootText ?? '', 'checkpoint root');
    if (root.length !== 32) throw new CheckError('checkpoint', 'the root hash is not 32 bytes');
    let tried = 0;
    for (const line of text.slice(cut + 2).split('\n')) {
      const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!m || m[1] !== origin) continue;
      const sig = fromB64(m[2], 'checkpoint signature');
      if (sig.length < 5) continue;
      tried++;
      if (await verifySignature(sig.slice(4), utf8.encode(body))) return { size, root };
    }
    throw new CheckError('checkpoint signature', tried === 0
      ? `the checkpoint has no signature line named ${origin}`
      : `no signature on the checkpoint verifies with the log key (${tried} tried)`);
  }

  // checkInclusion proves leaf (bytes) at index with proof (protobuf-JSON
  // InclusionProof with its checkpoint), reporting each step through say.
  async function checkInclusion(leaf, index, proof, say) {
    if (!proof || typeof proof !== 'object') throw new CheckError('inclusion proof', 'there is no inclusion proof');
    const cp = await verifyCheckpoint(proof.checkpoint?.envelope);
    say(`Checkpoint signed by the log key (${keyType}) of ${origin}: tree size ${cp.size}, root ${hex(cp.root).slice(0, 16)}…`);
    const size = decimal(proof.treeSize, 'inclusion proof');
    if (size !== cp.size) throw new CheckError('checkpoint', `the proof is for tree size ${size} but the checkpoint is of size ${cp.size}`);
    const claimed = fromB64(proof.rootHash ?? '', 'inclusion proof');
    if (!equal(claimed, cp.root)) throw new CheckError('checkpoint', `the proof's root hash ${hex(claimed).slice(0, 16)}… is not the checkpoint's ${hex(cp.root).slice(0, 16)}…`);
    if (proof.logIndex !== undefined && decimal(proof.logIndex, 'inclusion proof') !== index) {
      throw new CheckError('inclusion proof', `the proof is for entry ${proof.logIndex}, not ${index}`);
    }
    const lh = await leafHash(leaf);
    say(`Leaf hash computed here from the entry's ${leaf.length} bytes: ${hex(lh)}`);
    const path = (proof.hashes ?? []).map((h) => {
      const b = fromB64(h, 'inclusion proof');
      if (b.length !== 32) throw new CheckError('inclusion proof', 'a proof hash is not 32 bytes');
      return b;
    });
    const root = await rootFromInclusion(index, size, lh, path);
    if (!equal(root, cp.root)) {
      throw new CheckError('inclusion proof', `the leaf and the ${path.length} proof hashes lead to root ${hex(root).slice(0, 16)}…, not the checkpoint's ${hex(cp.root).slice(0, 16)}…`);
    }
    say(`Inclusion proof: entry ${index} with ${path.length} hashes leads to the checkpoint's root`);
    return cp;
  }

  function reporter() {
    const status = document.getElementById('verify-status');
    const steps = document.getElementById('verify-steps');
    steps.replaceChildren();
    status.className = 'pending';
    status.textContent = 'Checking…';
    const say = (text, cls) => {
      const li = document.createElement('li');
      li.textContent = text;
      if (cls) li.className = cls;
      steps.append(li);
    };
    const done = (text) => { status.className = 'verified'; status.textContent = text; };
    const fail = (err) => {
      const step = err instanceof CheckError ? err.step : 'check';
      status.className = 'failed';
      status.textContent = `Verification failed: ${step}: ${err.message}`;
      say(`${step}: ${err.message}`, 'fail');
    };
    return { say, done, fail };
  }

  async function checkEntryPage(section) {
    const r = reporter();
    try {
      const index = decimal(section.dataset.index, 'entry');
      const leaf = fromB64(section.dataset.leaf, 'entry');
      const resp = await fetch(`/api/v2/log/entries/${index}`, { cache: 'no-store' });
      if (!resp.ok) throw new CheckError('fetching the proof', `the log answered ${resp.status}`);
      let tle;
      try { tle = await resp.json(); } catch { throw new CheckError('fetching the proof', 'the answer is not JSON'); }
      const cp = await checkInclusion(leaf, index, tle.inclusionProof, r.say);
      r.done(`Verified in your browser: entry ${index} is in the log's tree of size ${cp.size}, whose checkpoint the log key signed.`);
    } catch (err) {
      r.fail(err);
    }
  }

  // dssePAE is the DSSE pre-authentication encoding a hashedrekord of a DSSE
  // envelope logs the SHA-256 of.
  function dssePAE(type, payload) {
    const t = utf8.encode(type);
    const head = utf8.encode(`DSSEv1 ${t.length} `);
    const mid = utf8.encode(` ${payload.length} `);
    const out = new Uint8Array(head.length + t.length + mid.length + payload.length);
    out.set(head); out.set(t, head.length); out.set(mid, head.length + t.length); out.set(payload, head.length + t.length + mid.length);
    return out;
  }

  // checkBundleBody checks that the logged entry is the bundle's: its
  // digest and signature (and certificate, if the bundle has one).
  async function checkBundleBody(bundle, leaf, say) {
    let spec;
    try { spec = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(leaf)).spec.hashedRekordV002; } catch { spec = undefined; }
    if (!spec) throw new CheckError('log entry', 'the logged entry is not a hashedrekord v0.0.2');
    let digest, sig;
    if (bundle.messageSignature) {
      digest = bundle.messageSignature.messageDigest?.digest;
      sig = bundle.messageSignature.signature;
    } else if (bundle.dsseEnvelope) {
      const env = bundle.dsseEnvelope;
      digest = toB64(await sha256(dssePAE(String(env.payloadType ?? ''), fromB64(env.payload ?? '', 'DSSE envelope'))));
      sig = env.signatures?.[0]?.sig;
    } else {
      throw new CheckError('bundle', 'it has neither a messageSignature nor a dsseEnvelope');
    }
    if (spec.data?.digest !== digest) throw new CheckError('log entry', `the logged digest ${short(spec.data?.digest)} is not the bundle's ${short(digest)}`);
    if (spec.signature?.content !== sig) throw new CheckError('log entry', 'the logged signature is not the bundle\'s');
    const vm = bundle.verificationMaterial;
    const cert = vm.certificate?.rawBytes ?? vm.x509CertificateChain?.certificates?.[0]?.rawBytes;
    if (cert !== undefined && spec.signature?.verifier?.x509Certificate?.rawBytes !== cert) {
      throw new CheckError('log entry', 'the logged certificate is not the bundle\'s');
    }
    say('The logged entry carries this bundle\'s digest and signature' + (cert !== undefined ? ' and certificate' : ''));
  }

  async function checkBundle(text) {
    const r = reporter();
    try {
      let bundle;
      try { bundle = JSON.parse(text); } catch (e) { throw new CheckError('bundle', `not JSON (${e.message})`); }
      if (!bundle || typeof bundle !== 'object') throw new CheckError('bundle', 'not a JSON object');
      const mt = String(bundle.mediaType ?? '');
      if (!mt.startsWith('application/vnd.dev.sigstore.bundle')) throw new CheckError('bundle', `media type "${short(mt)}" is not a Sigstore bundle's`);
      const entries = bundle.verificationMaterial?.tlogEntries;
      if (!Array.isArray(entries) || entries.length === 0) throw new CheckError('bundle', 'it has no transparency log entry');
      const te = entries.find((e) => e?.logId?.keyId === logID);
      if (!te) throw new CheckError('log', `the bundle's entries are from another log (log ID ${short(entries[0]?.logId?.keyId)}), not this one (${logID})`);
      const index = decimal(te.logIndex, 'bundle');
      const leaf = fromB64(te.canonicalizedBody ?? '', 'canonicalized body');
      r.say(`The bundle has entry ${index} of this log (log ID ${logID})`);
      await checkBundleBody(bundle, leaf, r.say);
      const cp = await checkInclusion(leaf, index, te.inclusionProof, r.say);
      r.say('Not checked here: the signature over your artifact and the signer\'s certificate chain; mosaic verify or cosign verify-blob checks those.');
      r.done(`Verified in your browser: the bundle's entry ${index} is in this log's tree of size ${cp.size}.`);
    } catch (err) {
      r.fail(err);
    }
  }

  function setUpBundlePage(form) {
    const text = document.getElementById('bundle-text');
    const file = document.getElementById('bundle-file');
    const load = async (f) => { text.value = await f.text(); await checkBundle(text.value); };
    form.addEventListener('submit', (ev) => { ev.preventDefault(); checkBundle(text.value); });
    file.addEventListener('change', () => { if (file.files.length) load(file.files[0]); });
    text.addEventListener('dragover', (ev) => { ev.preventDefault(); text.classList.add('drop'); });
    text.addEventListener('dragleave', () => text.classList.remove('drop'));
    text.addEventListener('drop', (ev) => {
      ev.preventDefault();
      text.classList.remove('drop');
      if (ev.dataTransfer.files.length) load(ev.dataTransfer.files[0]);
    });
    text.addEventListener('paste', () => setTimeout(() => checkBundle(text.value), 0));
  }

  document.addEventListener('DOMContentLoaded', () => {
    const section = document.querySelector('section#verify[data-leaf]');
    if (section) checkEntryPage(section);
    const form = document.getElementById('bundle-form');
    if (form) setUpBundlePage(form);
  });
})();
