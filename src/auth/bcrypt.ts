/**
 * bcrypt for the deprecated userpass database the Go principal reads
 * (golang.org/x/crypto/bcrypt), by the bcryptjs library. Go computes every minor
 * version the same way ($2$, $2a$, $2b$, $2x$, $2y$: no emulation of the historic
 * $2x$ bug, the key always NUL-terminated, only the first 72 bytes counting), so a
 * hash is handed to bcryptjs as $2b$, which it computes exactly so. bcryptjs works in
 * slices on the event loop, so a cost-10 check does not stall other agents' streams.
 *
 * @example
 *   await bcryptVerify("s3cret", "$2b$10$…") // true / false
 */
import bcrypt from "bcryptjs";

export const BCRYPT_MIN_COST = 4;
export const BCRYPT_MAX_COST = 31;

const BCRYPT_HASH = /^\$2([abxy]?)\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;

/** A string that is not a bcrypt hash in modular-crypt form. */
export class BcryptFormatError extends Error {
  override name = "BcryptFormatError";
}

/** Parses `$2b$10$<salt><hash>` as Go accepts it; throws BcryptFormatError. */
export function parseBcryptHash(hash: string): { minor: string; cost: number; salt: string; checksum: string } {
  const m = BCRYPT_HASH.exec(hash);
  if (!m) throw new BcryptFormatError("not a bcrypt hash ($2a$/$2b$/$2x$/$2y$, two-digit cost, 53 characters of salt and hash)");
  const cost = Number(m[2]);
  if (cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST) {
    throw new BcryptFormatError(`bcrypt cost ${cost} is outside ${BCRYPT_MIN_COST}..${BCRYPT_MAX_COST}`);
  }
  return { minor: m[1], cost, salt: m[3], checksum: m[4] };
}

/** True when `password` matches `hash`; false for a mismatch or a malformed hash. Constant-time compare (bcryptjs). */
export async function bcryptVerify(password: string, hash: string): Promise<boolean> {
  let parsed: ReturnType<typeof parseBcryptHash>;
  try {
    parsed = parseBcryptHash(hash);
  } catch {
    return false;
  }
  const cost = String(parsed.cost).padStart(2, "0");
  return bcrypt.compare(password, `$2b$${cost}$${parsed.salt}${parsed.checksum}`);
}

/** Hashes `password` as `$2b$<cost>$…` (for tooling and tests; Go writes `$2a$`). */
export async function bcryptHash(password: string, cost = 10): Promise<string> {
  if (!Number.isInteger(cost) || cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST) throw new RangeError(`bcrypt cost must be ${BCRYPT_MIN_COST}..${BCRYPT_MAX_COST}`);
  return bcrypt.hash(password, cost);
}
