// Solves a join's proof of work off the page's thread (src/abuse/README.md): the smallest
// decimal nonce such that SHA-256(challenge || nonce) starts with `difficulty` zero bits.
// Message in: {challenge, difficulty}; out: {nonce, tries} or {error}.
const encoder = new TextEncoder();

function leadingZeroBits(bytes) {
  let bits = 0;
  for (const b of bytes) {
    if (b === 0) { bits += 8; continue; }
    return bits + Math.clz32(b) - 24;
  }
  return bits;
}

self.onmessage = async (event) => {
  const { challenge, difficulty } = event.data;
  try {
    const batch = 256;  // digests in flight at once: WebCrypto is asynchronous
    for (let from = 0; ; from += batch) {
      const tries = [];
      for (let n = from; n < from + batch; n++) {
        tries.push(crypto.subtle.digest('SHA-256', encoder.encode(challenge + n)));
      }
      const hashes = await Promise.all(tries);
      for (let i = 0; i < hashes.length; i++) {
        if (leadingZeroBits(new Uint8Array(hashes[i])) >= difficulty) {
          self.postMessage({ nonce: String(from + i), tries: from + i + 1 });
          return;
        }
      }
    }
  } catch (e) {
    self.postMessage({ error: String(e) });
  }
};
