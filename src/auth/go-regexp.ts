/**
 * Compiles an extraction pattern written for the Go principal (Go `regexp`, RE2 syntax)
 * into a JavaScript RegExp with the same meaning, so one `--auth` value works for both
 * implementations.
 *
 * Why translate instead of `new RegExp(pattern)`: the two dialects disagree on details that
 * matter for header values. In RE2 `.` excludes only `\n` (JS also excludes `\r`), `\s` is
 * `[\t\n\f\r ]` (JS adds Unicode spaces), `[]a]` and a lone `{` are literals, `\A`/`\z`,
 * `\Q…\E`, `(?P<name>…)`, POSIX classes `[[:alpha:]]` and mid-pattern `(?i)` exist; and JS
 * (with the `v` flag we use for Unicode semantics) rejects unescaped `/`, `(`, `{`… in a class.
 * Features RE2 lacks (lookaround, backreferences) are refused, as the Go principal would
 * refuse them. Matching semantics are leftmost-first in both engines, so group 1 agrees.
 * Known remaining differences: JS backtracks (super-linear on pathological patterns), so
 * callers cap the input length; and a group inside a repeated group keeps Go's last
 * participating value but is reset by JS (`(?:(a)|b)+` on "ab": Go "a", JS undefined → "").
 *
 * @example
 *   compileGoRegexp("^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)").regexp.exec(xfcc)?.[1]
 */

/** A pattern that the Go principal would not accept, or that cannot be expressed in JS. */
export class GoRegexpError extends Error {
  override name = "GoRegexpError";
  readonly pattern: string;
  constructor(pattern: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.pattern = pattern;
  }
}

export interface CompiledGoRegexp {
  /** The JS equivalent (flags `v`, plus nothing else: RE2 flags are translated inline). */
  regexp: RegExp;
  /** Number of capturing groups; group 1 is the agent ID. */
  groups: number;
  /** The original Go pattern, for logs and diagnostics. */
  source: string;
}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  U: boolean;
}

interface GroupState {
  /** Flags in force when the group opened (restored at its end, as RE2 does). */
  outer: Flags;
  /** Text of an open JS modifier group emulating a mid-group `(?i)`/`(?-i)`, if any. */
  modifier: string;
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\u{0}-\\u{7F}",
  blank: "\\t\\u{20}",
  cntrl: "\\u{0}-\\u{1F}\\u{7F}",
  digit: "0-9",
  graph: "\\u{21}-\\u{7E}",
  lower: "a-z",
  print: "\\u{20}-\\u{7E}",
  punct: "\\u{21}-\\u{2F}\\u{3A}-\\u{40}\\u{5B}-\\u{60}\\u{7B}-\\u{7E}",
  space: "\\t\\n\\v\\f\\r\\u{20}",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

const RE2_SPACE = "\\t\\n\\f\\r\\u{20}";
const MAX_REPEAT = 1000; // RE2's limit; larger counts are a compile error in Go.

/** Escapes one code point for use anywhere in a `v`-flag pattern. */
function lit(cp: number): string {
  const isAlnum = (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return isAlnum ? String.fromCodePoint(cp) : `\\u{${cp.toString(16).toUpperCase()}}`;
}

class Translator {
  private readonly src: string;
  private pos = 0;
  private out = "";
  private flags: Flags = { i: false, m: false, s: false, U: false };
  private readonly stack: GroupState[] = [];
  groups = 0;

  constructor(src: string) {
    this.src = src;
  }

  fail(message: string): never {
    throw new GoRegexpError(this.src, `${message} (at offset ${this.pos})`);
  }

  run(): string {
    this.stack.push({ outer: { ...this.flags }, modifier: "" });
    while (this.pos < this.src.length) this.step();
    if (this.stack.length > 1) this.fail("missing closing )");
    this.closeModifier(this.stack[0]);
    return this.out;
  }

  private peek(offset = 0): string {
    return this.src[this.pos + offset] ?? "";
  }

  private nextCodePoint(): number {
    const cp = this.src.codePointAt(this.pos);
    if (cp === undefined) this.fail("unexpected end of pattern");
    this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }

  private step(): void {
    const c = this.peek();
    switch (c) {
      case "\\":
        this.out += this.escape(false);
        return;
      case "[":
        this.out += this.charClass();
        return;
      case "(":
        this.openGroup();
        return;
      case ")":
        this.closeGroup();
        return;
      case "|": {
        this.pos++;
        const g = this.stack[this.stack.length - 1];
        // A mid-group flag change still applies after `|` in RE2, so re-open the modifier.
        if (g.modifier) this.out += `)|${g.modifier}`;
        else this.out += "|";
        return;
      }
      case "*":
      case "+":
      case "?":
        this.pos++;
        this.out += c + this.lazySuffix();
        return;
      case "{": {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
        if (!m) {
          this.pos++;
          this.out += lit(0x7b); // RE2 treats a `{` that starts no repeat as a literal
          return;
        }
        const min = Number(m[1]);
        const max = m[3] ? Number(m[3]) : min;
        if (min > MAX_REPEAT || max > MAX_REPEAT || (m[3] && max < min)) this.fail(`invalid repeat count ${m[0]}`);
        this.pos += m[0].length;
        this.out += m[0] + this.lazySuffix();
        return;
      }
      case "^":
        this.pos++;
        // Without (?m) both mean start/end of text, as JS `^`/`$` do without the m flag.
        // With (?m) RE2 breaks lines only at \n (JS would also break at \r, U+2028, U+2029).
        this.out += this.flags.m ? "(?<![^\\n])" : "^";
        return;
      case "$":
        this.pos++;
        this.out += this.flags.m ? "(?![^\\n])" : "$";
        return;
      case ".":
        this.pos++;
        this.out += this.flags.s ? "[^]" : "[^\\n]";
        return;
      default:
        this.out += lit(this.nextCodePoint());
    }
  }

  /** RE2's (?U) swaps greedy and lazy; JS has no such flag, so flip the suffix here. */
  private lazySuffix(): string {
    let lazy = false;
    if (this.peek() === "?") {
      this.pos++;
      lazy = true;
    }
    return lazy !== this.flags.U ? "?" : "";
  }

  private openGroup(): void {
    const rest = this.src.slice(this.pos);
    const named = /^\(\?P?<([A-Za-z0-9_]+)>/.exec(rest);
    if (named) {
      // Names are irrelevant to us (group 1 is the ID) and Go allows names JS does not.
      this.pos += named[0].length;
      this.pushGroup("(");
      this.groups++;
      return;
    }
    if (/^\(\?(=|!|<=|<!)/.test(rest)) this.fail("lookahead/lookbehind is not supported by Go's RE2 syntax");
    if (/^\(\?P[=>]/.test(rest)) this.fail("backreferences are not supported by Go's RE2 syntax");
    if (rest.startsWith("(?:")) {
      this.pos += 3;
      this.pushGroup("(?:");
      return;
    }
    if (rest.startsWith("(?")) {
      const f = /^\(\?([imsU]*(?:-[imsU]+)?)([:)])/.exec(rest);
      if (!f || f[1] === "") this.fail("invalid or unsupported group flags");
      this.pos += f[0].length;
      const next = this.applyFlags(f[1], { ...this.flags });
      if (f[2] === ":") {
        this.pushGroup("(?:");
        this.setFlags(next);
      } else {
        this.setFlags(next);
      }
      return;
    }
    this.pos++;
    this.pushGroup("(");
    this.groups++;
  }

  private applyFlags(spec: string, flags: Flags): Flags {
    let on = true;
    for (const ch of spec) {
      if (ch === "-") on = false;
      else flags[ch as keyof Flags] = on;
    }
    return flags;
  }

  /** Changes flags for the rest of the current group; only `i` needs JS help. */
  private setFlags(next: Flags): void {
    const g = this.stack[this.stack.length - 1];
    if (next.i !== this.flags.i) {
      this.closeModifier(g);
      if (next.i !== g.outer.i) {
        g.modifier = next.i ? "(?i:" : "(?-i:";
        this.out += g.modifier;
      }
    }
    this.flags = next;
  }

  private closeModifier(g: GroupState): void {
    if (g.modifier) {
      this.out += ")";
      g.modifier = "";
    }
  }

  private pushGroup(open: string): void {
    this.out += open;
    this.stack.push({ outer: { ...this.flags }, modifier: "" });
  }

  private closeGroup(): void {
    if (this.stack.length === 1) this.fail("unexpected )");
    const g = this.stack.pop()!;
    this.closeModifier(g);
    this.flags = g.outer;
    this.pos++;
    this.out += ")";
  }

  /** Translates one escape; `inClass` selects forms valid inside `[...]`. */
  private escape(inClass: boolean): string {
    this.pos++; // the backslash
    if (this.pos >= this.src.length) this.fail("trailing backslash at end of expression");
    const c = this.peek();
    this.pos++;
    switch (c) {
      case "d":
      case "D":
      case "w":
      case "W":
        return "\\" + c;
      case "s":
        return `[${RE2_SPACE}]`;
      case "S":
        return `[^${RE2_SPACE}]`;
      case "b":
      case "B":
        if (inClass) this.fail(`\\${c} is not allowed in a character class`);
        return "\\" + c;
      case "A":
        if (inClass) this.fail("\\A is not allowed in a character class");
        return "(?<![^])";
      case "z":
        if (inClass) this.fail("\\z is not allowed in a character class");
        return "(?![^])";
      case "a":
        return lit(7);
      case "f":
      case "t":
      case "n":
      case "r":
      case "v":
        return "\\" + c;
      case "x":
        return lit(this.hexEscape());
      case "p":
      case "P":
        return this.unicodeClass(c === "P");
      case "Q": {
        if (inClass) this.fail("\\Q…\\E is not supported inside a character class");
        const end = this.src.indexOf("\\E", this.pos);
        const text = this.src.slice(this.pos, end < 0 ? undefined : end);
        this.pos = end < 0 ? this.src.length : end + 2;
        return [...text].map((ch) => lit(ch.codePointAt(0)!)).join("");
      }
      case "C":
        this.fail("\\C (any byte) is not supported");
    }
    if (c >= "0" && c <= "7") {
      // RE2: octal escapes; a lone \1-\7 would be a backreference, which RE2 rejects.
      const m = /^[0-7]{0,2}/.exec(this.src.slice(this.pos))![0];
      if (c !== "0" && m.length === 0) this.fail(`backreferences (\\${c}) are not supported by Go's RE2 syntax`);
      this.pos += m.length;
      return lit(parseInt(c + m, 8));
    }
    const cp = c.codePointAt(0)!;
    if (cp < 0x80 && !/[A-Za-z0-9]/.test(c)) return lit(cp); // escaped punctuation is itself
    this.fail(`invalid escape sequence \\${c}`);
  }

  private hexEscape(): number {
    if (this.peek() === "{") {
      const m = /^\{([0-9A-Fa-f]{1,8})\}/.exec(this.src.slice(this.pos));
      if (!m || parseInt(m[1], 16) > 0x10ffff) this.fail("invalid \\x{…} escape");
      this.pos += m[0].length;
      return parseInt(m[1], 16);
    }
    const m = /^[0-9A-Fa-f]{2}/.exec(this.src.slice(this.pos));
    if (!m) this.fail("invalid \\x escape (expected two hex digits)");
    this.pos += 2;
    return parseInt(m[0], 16);
  }

  private unicodeClass(negated: boolean): string {
    let name: string;
    if (this.peek() === "{") {
      const end = this.src.indexOf("}", this.pos);
      if (end < 0) this.fail("unterminated \\p{…}");
      name = this.src.slice(this.pos + 1, end);
      this.pos = end + 1;
    } else {
      name = this.peek();
      this.pos++;
    }
    if (name.startsWith("^")) {
      negated = !negated;
      name = name.slice(1);
    }
    if (!/^[A-Za-z_]+$/.test(name)) this.fail(`invalid Unicode class name ${JSON.stringify(name)}`);
    if (name === "Any") return negated ? "[]" : "[^]";
    // RE2 short names (L, Lu, N…) are general categories; long ones (Greek, Latin…) are scripts.
    const prop = name.length <= 2 ? name : `Script=${name}`;
    return `\\${negated ? "P" : "p"}{${prop}}`;
  }

  /** Translates `[...]` with RE2 rules (leading `]` is literal, POSIX classes, Perl `-`). */
  private charClass(): string {
    this.pos++; // [
    let out = "[";
    if (this.peek() === "^") {
      this.pos++;
      out += "^";
    }
    let first = true;
    for (;;) {
      if (this.pos >= this.src.length) this.fail("missing closing ]");
      const c = this.peek();
      if (c === "]" && !first) {
        this.pos++;
        return out + "]";
      }
      first = false;
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(this.src.slice(this.pos));
      if (posix) {
        const set = POSIX_CLASSES[posix[2]];
        if (!set) this.fail(`invalid POSIX class [:${posix[2]}:]`);
        this.pos += posix[0].length;
        out += `[${posix[1]}${set}]`;
        continue;
      }
      const lo = this.classAtom();
      if (this.peek() === "-" && this.peek(1) !== "]" && this.peek(1) !== "") {
        if (typeof lo !== "number") this.fail("invalid character class range");
        this.pos++;
        const hi = this.classAtom();
        if (typeof hi !== "number" || hi < lo) this.fail("invalid character class range");
        out += `${lit(lo)}-${lit(hi)}`;
      } else {
        out += typeof lo === "number" ? lit(lo) : lo;
      }
    }
  }

  /** One class member: a code point, or (as a string) an already translated class escape. */
  private classAtom(): number | string {
    if (this.peek() !== "\\") return this.nextCodePoint();
    const save = this.pos;
    const t = this.escape(true);
    const m = /^\\u\{([0-9A-F]+)\}$/.exec(t);
    if (m) return parseInt(m[1], 16);
    if (/^[A-Za-z0-9]$/.test(t)) return t.codePointAt(0)!;
    const single: Record<string, number> = { "\\f": 12, "\\t": 9, "\\n": 10, "\\r": 13, "\\v": 11 };
    if (t in single) return single[t];
    if (this.pos === save) this.fail("invalid escape in character class");
    return t;
  }
}

/**
 * Compiles a Go RE2 pattern to an equivalent JS RegExp.
 * @throws GoRegexpError with a message saying what is wrong and where.
 */
export function compileGoRegexp(pattern: string): CompiledGoRegexp {
  const t = new Translator(pattern);
  const js = t.run();
  let regexp: RegExp;
  try {
    regexp = new RegExp(js, "v");
  } catch (err) {
    // V8 messages embed the translated source; keep only the reason.
    const reason = String((err as Error).message).replace(/^Invalid regular expression: \/.*\/v: /s, "");
    throw new GoRegexpError(pattern, `does not compile: ${reason}`, { cause: err });
  }
  return { regexp, groups: t.groups, source: pattern };
}
