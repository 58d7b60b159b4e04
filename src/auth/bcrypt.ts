/**
 * bcrypt ($2a$/$2b$/$2x$/$2y$), enough to verify the deprecated userpass database that the
 * Go principal reads (golang.org/x/crypto/bcrypt). Node's crypto has no bcrypt and we take
 * no extra dependency, so this is the textbook Eksblowfish construction. Like Go, every
 * minor version is computed the same way (no emulation of the historic $2x$ bug) and only
 * the first 72 bytes of a password count.
 *
 * The work loop yields to the event loop every few rounds: a cost-10 check takes tens of
 * milliseconds, which must not stall every other agent's stream.
 *
 * @example
 *   await bcryptVerify("s3cret", "$2b$10$…") // true / false
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";

export const BCRYPT_MIN_COST = 4;
export const BCRYPT_MAX_COST = 31;
const ROUNDS_PER_SLICE = 16;

const BCRYPT_HASH = /^\$2([abxy]?)\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;
const BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const STD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const MAGIC = Buffer.from("OrpheanBeholderScryDoubt", "latin1");

/** A string that is not a bcrypt hash in modular-crypt form. */
export class BcryptFormatError extends Error {
  override name = "BcryptFormatError";
}

let initial: { P: Uint32Array; S: Uint32Array } | undefined;

/**
 * Blowfish's initial P-array and S-boxes are the hexadecimal digits of π's fractional part
 * (1042 words). Computing them (Machin's formula in BigInt, a few ms, once) avoids
 * shipping 1042 hand-copied constants.
 */
function blowfishInitialState(): { P: Uint32Array; S: Uint32Array } {
  if (initial) return initial;
  const words = 18 + 4 * 256;
  const guard = 64n;
  const bits = BigInt(words * 32) + guard;
  const one = 1n << bits;
  const arctanInverse = (x: bigint): bigint => {
    let sum = 0n;
    let power = one / x;
    const x2 = x * x;
    for (let k = 0n; power !== 0n; k++) {
      const term = power / (2n * k + 1n);
      sum += k % 2n === 0n ? term : -term;
      power /= x2;
    }
    return sum;
  };
  const pi = 4n * (4n * arctanInverse(5n) - arctanInverse(239n));
  const fraction = (pi - 3n * one) >> guard;
  const all = new Uint32Array(words);
  for (let i = 0; i < words; i++) all[i] = Number((fraction >> BigInt((words - 1 - i) * 32)) & 0xffffffffn);
  initial = { P: all.slice(0, 18), S: all.slice(18) };
  return initial;
}

/** Encrypts the 64-bit block lr[off], lr[off+1] in place. */
function encipher(P: Uint32Array, S: Uint32Array, lr: Uint32Array, off: number): void {
  let l = lr[off] ^ P[0];
  let r = lr[off + 1];
  for (let i = 1; i <= 16; i += 2) {
    r ^= (((S[l >>> 24] + S[256 | ((l >>> 16) & 0xff)]) ^ S[512 | ((l >>> 8) & 0xff)]) + S[768 | (l & 0xff)]) ^ P[i];
    l ^= (((S[r >>> 24] + S[256 | ((r >>> 16) & 0xff)]) ^ S[512 | ((r >>> 8) & 0xff)]) + S[768 | (r & 0xff)]) ^ P[i + 1];
  }
  lr[off] = r ^ P[17];
  lr[off + 1] = l;
}

/** Reads big-endian words from `data`, cycling over it (Blowfish's key stream). */
class CyclicWords {
  private pos = 0;
  private readonly data: Uint8Array;
  constructor(data: Uint8Array) {
    this.data = data;
  }
  next(): number {
    let w = 0;
    for (let i = 0; i < 4; i++) {
      w = (w << 8) | this.data[this.pos];
      this.pos = (this.pos + 1) % this.data.length;
    }
    return w >>> 0;
  }
}

/** Blowfish key expansion; with `salt`, the salted variant bcrypt uses for the first pass. */
function expandKey(P: Uint32Array, S: Uint32Array, key: Uint8Array, salt?: Uint8Array): void {
  const k = new CyclicWords(key);
  for (let i = 0; i < 18; i++) P[i] ^= k.next();
  const s = salt ? new CyclicWords(salt) : undefined;
  const lr = new Uint32Array(2);
  const fill = (target: Uint32Array, n: number) => {
    for (let i = 0; i < n; i += 2) {
      if (s) {
        lr[0] ^= s.next();
        lr[1] ^= s.next();
      }
      encipher(P, S, lr, 0);
      target[i] = lr[0];
      target[i + 1] = lr[1];
    }
  };
  fill(P, 18);
  fill(S, 1024);
}

function decodeBcryptBase64(s: string, bytes: number): Buffer {
  const std = [...s].map((c) => STD_ALPHABET[BCRYPT_ALPHABET.indexOf(c)]).join("");
  return Buffer.from(std, "base64").subarray(0, bytes);
}

function encodeBcryptBase64(b: Uint8Array): string {
  const std = Buffer.from(b).toString("base64").replace(/=+$/, "");
  return [...std].map((c) => BCRYPT_ALPHABET[STD_ALPHABET.indexOf(c)]).join("");
}

/** The 31-character hash part for password, cost and the 16-byte salt. */
async function computeHash(password: string, cost: number, salt: Uint8Array): Promise<string> {
  const { P: P0, S: S0 } = blowfishInitialState();
  const P = P0.slice();
  const S = S0.slice();
  const key = Buffer.concat([Buffer.from(password, "utf8"), Buffer.from([0])]);
  expandKey(P, S, key, salt);
  const rounds = 2 ** cost;
  for (let i = 0; i < rounds; i++) {
    expandKey(P, S, key);
    expandKey(P, S, salt);
    if (i % ROUNDS_PER_SLICE === ROUNDS_PER_SLICE - 1) await yieldToEventLoop();
  }
  const lr = new Uint32Array(6);
  for (let i = 0; i < 6; i++) lr[i] = MAGIC.readUInt32BE(i * 4);
  for (let block = 0; block < 6; block += 2) {
    for (let j = 0; j < 64; j++) encipher(P, S, lr, block);
  }
  const out = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) out.writeUInt32BE(lr[i], i * 4);
  return encodeBcryptBase64(out.subarray(0, 23));
}

/** Parses `$2b$10$<salt><hash>`; throws BcryptFormatError. */
export function parseBcryptHash(hash: string): { minor: string; cost: number; salt: Buffer; checksum: string } {
  const m = BCRYPT_HASH.exec(hash);
  if (!m) throw new BcryptFormatError("not a bcrypt hash ($2a$/$2b$/$2x$/$2y$, two-digit cost, 53 characters of salt and hash)");
  const cost = Number(m[2]);
  if (cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST) {
    throw new BcryptFormatError(`bcrypt cost ${cost} is outside ${BCRYPT_MIN_COST}..${BCRYPT_MAX_COST}`);
  }
  return { minor: m[1], cost, salt: decodeBcryptBase64(m[3], 16), checksum: m[4] };
}

/** True when `password` matches `hash`; false for a mismatch or a malformed hash. Constant-time compare. */
export async function bcryptVerify(password: string, hash: string): Promise<boolean> {
  let parsed: ReturnType<typeof parseBcryptHash>;
  try {
    parsed = parseBcryptHash(hash);
  } catch {
    return false;
  }
  const actual = Buffer.from(await computeHash(password, parsed.cost, parsed.salt));
  return timingSafeEqual(actual, Buffer.from(parsed.checksum));
}

/** Hashes `password` as `$2b$<cost>$…` (for tooling and tests; Go writes `$2a$`). */
export async function bcryptHash(password: string, cost = 10, salt: Uint8Array = randomBytes(16)): Promise<string> {
  if (cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST) throw new RangeError(`bcrypt cost must be ${BCRYPT_MIN_COST}..${BCRYPT_MAX_COST}`);
  if (salt.length !== 16) throw new RangeError("bcrypt salt must be 16 bytes");
  const saltText = encodeBcryptBase64(salt).slice(0, 22);
  return `$2b$${String(cost).padStart(2, "0")}$${saltText}${await computeHash(password, cost, salt)}`;
}
