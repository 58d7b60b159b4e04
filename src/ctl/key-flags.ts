/**
 * The `--key-algorithm` (rsa, ecdsa-p256, ecdsa-p384, ecdsa-p521, ed25519) and
 * `--key-size` (RSA: 2048, 3072, 4096) flags of the ctl commands that generate
 * a private key (operations.md §1.5): their definitions, defaults and
 * validation. Kept apart from pki-keys.ts (key generation, which loads
 * @peculiar/x509) so the command definitions and their help need no crypto
 * library; a bad value exits 2 naming the flag, before any Kubernetes call.
 *
 * @example
 *   addKeyGenOptions(cmd.command("init"));
 *   const opts = parseKeyGenFlags("ecdsa-p384", "4096");   // { algorithm: "ecdsa-p384", rsaBits: 4096 }
 */
import { Option, type Command } from "commander";
import { CtlError } from "./ctl-context.ts";

export const KEY_ALGORITHMS = ["rsa", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519"] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];
export const RSA_KEY_SIZES = [2048, 3072, 4096] as const;
/** Upstream's defaults: RSA, 4096 bits. */
export const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = "rsa";
export const DEFAULT_RSA_BITS = 4096;

export interface KeyGenOptions {
  algorithm: KeyAlgorithm;
  /** Modulus length; only used for RSA. */
  rsaBits: number;
}

/** Adds `--key-algorithm` and `--key-size` to a command that generates a key. */
export function addKeyGenOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--key-algorithm <alg>", `private key algorithm (${KEY_ALGORITHMS.join(", ")})`).default(DEFAULT_KEY_ALGORITHM))
    .addOption(new Option("--key-size <bits>", `RSA key size in bits (${RSA_KEY_SIZES.join(", ")}; ignored for non-RSA algorithms)`).default(String(DEFAULT_RSA_BITS)));
}

/** Validates the two flags (exit 2 naming the flag), as upstream's ParseKeyAlgorithm. */
export function parseKeyGenFlags(algorithm: string, size: string): KeyGenOptions {
  if (!(KEY_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new CtlError(`--key-algorithm "${algorithm}" is not supported; use one of ${KEY_ALGORITHMS.join(", ")}`, 2);
  }
  const bits = Number(size);
  if (!/^\d+$/.test(size.trim()) || !Number.isInteger(bits)) throw new CtlError(`--key-size must be an integer, got "${size}"`, 2);
  if (algorithm === "rsa" && !(RSA_KEY_SIZES as readonly number[]).includes(bits)) {
    throw new CtlError(`--key-size ${size} is not supported for RSA; use one of ${RSA_KEY_SIZES.join(", ")}`, 2);
  }
  return { algorithm: algorithm as KeyAlgorithm, rsaBits: bits };
}

/**
 * The key options of a command that has the key flags, for commands that
 * generate a key only sometimes (`agent create`, `agent reconfigure`): refuses
 * the flags (exit 2) when given on the command line but no key will be generated.
 */
export function keyFlags(cmd: Command, willGenerate: boolean, unusedBecause: string): KeyGenOptions {
  const given = ["keyAlgorithm", "keySize"].some((k) => cmd.getOptionValueSource(k) === "cli");
  if (given && !willGenerate) throw new CtlError(`--key-algorithm and --key-size ${unusedBecause}`, 2);
  const o = cmd.opts() as { keyAlgorithm: string; keySize: string };
  return parseKeyGenFlags(o.keyAlgorithm, o.keySize);
}
