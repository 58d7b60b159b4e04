/**
 * `--auth userpass:<path>` (deprecated upstream, kept for compatibility): client ID and
 * secret sent in `AuthRequest.credentials` (`clientid`, `clientsecret`), checked against a
 * file of bcrypt hashes in the format the Go principal reads:
 *
 *     # comment            (lines starting with '#' or '//' are ignored)
 *     agent-1:$2a$10$…     (client ID, a DNS-1123 label : bcrypt hash)
 *
 * Invalid lines are skipped with a warning, as upstream does; a later duplicate wins.
 * Passwords are never stored in clear; comparison is bcrypt plus a constant-time compare,
 * and an unknown client ID still costs one bcrypt run so timing does not reveal which IDs exist.
 *
 * @example
 *   const m = UserpassAuthentication.fromFile("/app/config/userpass/passwd");
 *   await m.authenticate({ metadata: new Map(), credentials: { clientid: "agent-1", clientsecret: "…" } });
 */
import { readFileSync } from "node:fs";
import { getLogger } from "../observability/log.ts";
import { agentIdProblem } from "./agent-id.ts";
import { bcryptVerify, parseBcryptHash } from "./bcrypt.ts";
import type { AuthInput, AuthMethod, AuthResult } from "./method.ts";

const log = getLogger("auth");

export const USERPASS_CLIENT_ID_FIELD = "clientid";
export const USERPASS_CLIENT_SECRET_FIELD = "clientsecret";

// The check upstream applies to the hash column (all current bcrypt variants).
const HASH_PREFIX = /^\$2[abxy]\$[0-9]{2}/;

export interface UserDatabase {
  /** Client ID → bcrypt hash. */
  users: Map<string, string>;
  /** One message per skipped or duplicated line, `<source>:<line>: <why>`. */
  warnings: string[];
}

/** Parses the user database text; never throws (bad lines become warnings). */
export function parseUserDatabase(text: string, source = "userpass database"): UserDatabase {
  const users = new Map<string, string>();
  const warnings: string[] = [];
  text.split("\n").forEach((raw, index) => {
    const where = `${source}:${index + 1}`;
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("//")) return;
    const sep = line.indexOf(":");
    if (sep < 0) return void warnings.push(`${where}: ignoring invalid entry (expected <client-id>:<bcrypt-hash>)`);
    const id = line.slice(0, sep);
    const hash = line.slice(sep + 1);
    if (agentIdProblem(id)) return void warnings.push(`${where}: client ID isn't valid (must be a DNS-1123 label)`);
    if (!HASH_PREFIX.test(hash)) return void warnings.push(`${where}: client secret isn't a bcrypt hash`);
    try {
      parseBcryptHash(hash);
    } catch (err) {
      return void warnings.push(`${where}: client secret isn't a valid bcrypt hash: ${(err as Error).message}`);
    }
    if (users.has(id)) warnings.push(`${where}: client ID '${id}' specified more than once (this entry wins)`);
    users.set(id, hash);
  });
  return { users, warnings };
}

export class UserpassAuthentication implements AuthMethod {
  readonly name = "userpass" as const;
  private readonly users: Map<string, string>;
  /** A well-formed hash nobody matches, checked for unknown IDs so they cost as much as known ones. */
  private readonly dummyHash: string;

  constructor(users: Map<string, string>) {
    this.users = users;
    const first = users.values().next().value;
    const cost = first ? first.slice(4, 6) : "10";
    this.dummyHash = `$2a$${cost}$${"C".repeat(22)}${"C".repeat(31)}`;
  }

  /** Loads the database at start (synchronously, like the other settings); logs skipped lines. */
  static fromFile(path: string): UserpassAuthentication {
    const db = parseUserDatabase(readFileSync(path, "utf8"), path);
    for (const w of db.warnings) log.warn("userpass database: " + w);
    log.info("loaded userpass database", { path, clients: db.users.size });
    return new UserpassAuthentication(db.users);
  }

  describe(): string {
    return `userpass (${this.users.size} clients, deprecated)`;
  }

  async authenticate(req: AuthInput): Promise<AuthResult> {
    const id = req.credentials[USERPASS_CLIENT_ID_FIELD];
    const secret = req.credentials[USERPASS_CLIENT_SECRET_FIELD];
    if (id === undefined) return this.failed({ ok: false, reason: "username is missing from credentials" });
    if (secret === undefined) return this.failed({ ok: false, reason: "password is missing from credentials" });
    const hash = this.users.get(id);
    const matches = await bcryptVerify(secret, hash ?? this.dummyHash);
    if (!hash) return this.failed({ ok: false, reason: `unknown client ID '${id}'` }, req);
    if (!matches) return this.failed({ ok: false, reason: `wrong secret for client ID '${id}'` }, req);
    return { ok: true, agentId: id };
  }

  private failed(result: AuthResult, req?: AuthInput): AuthResult {
    if (!result.ok) log.warn("userpass authentication failed", { reason: result.reason, peer: req?.remoteAddress });
    return result;
  }
}
