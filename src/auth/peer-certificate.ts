/**
 * The client certificate facts mtls auth matches against, in the string forms the Go
 * principal uses, so that one `--auth mtls:…` regex extracts the same agent ID from both.
 *
 * Subject: Go's `pkix.Name.String()`, not OpenSSL's or Node's form. It is rebuilt from the
 * DER here because Node's `X509Certificate.subject` differs (newline-separated, certificate
 * order, different escaping). Go's rules, reproduced below:
 *   - standard attributes in the fixed order SERIALNUMBER, CN, OU, O, POSTALCODE, STREET,
 *     L, ST, C, comma-separated; several values of one type (e.g. two OUs) become one RDN
 *     joined with '+' in certificate order;
 *   - any other attribute follows, in reverse certificate order, as `<dotted OID>=#<hex>`
 *     where hex is the DER of the value re-encoded as Go would (PrintableString when every
 *     character allows it, else UTF8String), e.g. emailAddress `1.2.840.113549.1.9.1=#0c…`;
 *   - in values, `, + " \ < > ;` are backslash-escaped, as are a leading or trailing space
 *     and a leading '#'.
 *   Example: `CN=agent-1,OU=edge,O=Example,C=US`.
 * URIs: the URI SANs in certificate order (Go re-serialises them via net/url; that only
 * lower-cases the scheme for the URIs certificates carry).
 *
 * @example
 *   const peer = peerCertificateFromDer(tlsSocket.getPeerX509Certificate()!.raw);
 */
import { createHash } from "node:crypto";

export interface PeerCertificate {
  /** Subject in Go `pkix.Name.String()` form, e.g. `CN=agent-1,O=org`. */
  subject: string;
  /** URI SANs, e.g. `spiffe://cluster.local/ns/argocd/sa/agent-1`. */
  uris: string[];
  /** DNS SANs. */
  dnsNames: string[];
  /** SHA-256 of the DER, upper-case hex without separators (the blocklist key format). */
  fingerprint?: string;
}

/** The certificate could not be parsed as X.509 DER. */
export class CertificateParseError extends Error {
  override name = "CertificateParseError";
}

interface Tlv {
  tag: number;
  /** Offset of the content. */
  start: number;
  /** Offset just past the content. */
  end: number;
}

function readTlv(der: Uint8Array, pos: number, limit = der.length): Tlv {
  if (pos + 2 > limit) throw new CertificateParseError("truncated DER");
  const tag = der[pos];
  let len = der[pos + 1];
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new CertificateParseError("unsupported DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i];
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new CertificateParseError("truncated DER");
  return { tag, start, end };
}

/** The TLVs directly inside a constructed TLV. */
function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const t = readTlv(der, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

function decodeOid(bytes: Uint8Array): string {
  const parts: number[] = [];
  let v = 0;
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

const TAG = { UTF8: 0x0c, NUMERIC: 0x12, PRINTABLE: 0x13, T61: 0x14, IA5: 0x16, BMP: 0x1e } as const;

/** Decodes the string types Go accepts in names (others make Go reject the certificate). */
function decodeDirectoryString(tag: number, bytes: Uint8Array): string {
  const buf = Buffer.from(bytes);
  switch (tag) {
    case TAG.UTF8:
    case TAG.NUMERIC:
    case TAG.PRINTABLE:
    case TAG.IA5:
      return buf.toString("utf8");
    case TAG.T61:
      return buf.toString("latin1");
    case TAG.BMP:
      return buf.swap16().toString("utf16le");
    default:
      throw new CertificateParseError(`unsupported string type 0x${tag.toString(16)} in subject`);
  }
}

const STANDARD_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.5": "SERIALNUMBER",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "STREET",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.17": "POSTALCODE",
};
// Order of Go's ToRDNSequence; String() prints it reversed.
const GO_RDN_ORDER = ["2.5.4.6", "2.5.4.8", "2.5.4.7", "2.5.4.9", "2.5.4.17", "2.5.4.10", "2.5.4.11", "2.5.4.3", "2.5.4.5"];
const SINGLE_VALUED = new Set(["2.5.4.3", "2.5.4.5"]); // Go keeps only the last CN / serial number

function escapeGoDnValue(v: string): string {
  let out = "";
  const chars = [...v];
  chars.forEach((c, k) => {
    const esc =
      ',+"\\<>;'.includes(c) || (c === " " && (k === 0 || k === chars.length - 1)) || (c === "#" && k === 0);
    out += esc ? "\\" + c : c;
  });
  return out;
}

/** Go's asn1.Marshal of a string: PrintableString when possible (no '*' or '&'), else UTF8String. */
function goMarshalString(v: string): Buffer {
  const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(v);
  const body = Buffer.from(v, "utf8");
  const len = body.length < 0x80 ? Buffer.from([body.length]) : lengthBytes(body.length);
  return Buffer.concat([Buffer.from([printable ? TAG.PRINTABLE : TAG.UTF8]), len, body]);
}

function lengthBytes(n: number): Buffer {
  const bytes: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Formats a Name (SEQUENCE OF SET OF AttributeTypeAndValue) the way Go's pkix.Name.String() does. */
function goNameString(der: Uint8Array, name: Tlv): string {
  const values = new Map<string, string[]>();
  const extra: string[] = [];
  for (const rdn of children(der, name)) {
    for (const atv of children(der, rdn)) {
      const [oidTlv, valueTlv] = children(der, atv);
      if (!oidTlv || !valueTlv || oidTlv.tag !== 0x06) throw new CertificateParseError("malformed attribute in subject");
      const oid = decodeOid(der.subarray(oidTlv.start, oidTlv.end));
      const value = decodeDirectoryString(valueTlv.tag, der.subarray(valueTlv.start, valueTlv.end));
      if (STANDARD_NAMES[oid]) {
        const list = SINGLE_VALUED.has(oid) ? [] : (values.get(oid) ?? []);
        list.push(value);
        values.set(oid, list);
      } else {
        extra.push(`${oid}=#${goMarshalString(value).toString("hex")}`);
      }
    }
  }
  const rdns: string[] = [];
  for (const oid of GO_RDN_ORDER) {
    const vs = values.get(oid);
    if (vs && vs.some((v) => v !== "" || !SINGLE_VALUED.has(oid))) {
      rdns.push(vs.map((v) => `${STANDARD_NAMES[oid]}=${escapeGoDnValue(v)}`).join("+"));
    }
  }
  return [...rdns.reverse(), ...extra.reverse()].join(",");
}

/** Lower-cases the scheme, as Go's url.Parse does; the rest of a SAN URI is kept verbatim. */
function goUriString(uri: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri);
  return m ? m[1].toLowerCase() + uri.slice(m[1].length) : uri;
}

/**
 * Extracts subject (Go form), URI and DNS SANs and the fingerprint from a DER certificate.
 * @throws CertificateParseError
 */
export function peerCertificateFromDer(derInput: Uint8Array): PeerCertificate {
  const der = derInput;
  const cert = readTlv(der, 0);
  const [tbs] = children(der, cert);
  if (!tbs || tbs.tag !== 0x30) throw new CertificateParseError("not an X.509 certificate");
  const fields = children(der, tbs);
  let i = fields[0]?.tag === 0xa0 ? 1 : 0; // optional [0] version
  i += 4; // serialNumber, signature, issuer, validity
  const subject = fields[i];
  if (!subject || subject.tag !== 0x30) throw new CertificateParseError("certificate has no subject");

  const uris: string[] = [];
  const dnsNames: string[] = [];
  const extensions = fields.slice(i + 2).find((f) => f.tag === 0xa3);
  if (extensions) {
    const [list] = children(der, extensions);
    for (const ext of list ? children(der, list) : []) {
      const parts = children(der, ext);
      if (parts.length < 2 || parts[0].tag !== 0x06) throw new CertificateParseError("malformed extension");
      if (decodeOid(der.subarray(parts[0].start, parts[0].end)) !== "2.5.29.17") continue;
      const octets = parts[parts.length - 1];
      const seq = readTlv(der, octets.start, octets.end);
      for (const gn of children(der, seq)) {
        const text = Buffer.from(der.subarray(gn.start, gn.end)).toString("latin1");
        if (gn.tag === 0x86) uris.push(goUriString(text));
        else if (gn.tag === 0x82) dnsNames.push(text);
      }
    }
  }
  return {
    subject: goNameString(der, subject),
    uris,
    dnsNames,
    fingerprint: createHash("sha256").update(der).digest("hex").toUpperCase(),
  };
}
