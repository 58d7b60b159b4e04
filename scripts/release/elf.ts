/**
 * Just enough of an ELF reader to check a release executable without running it: the target
 * machine from the header, the notes the loader sees (PT_NOTE segments, where postject puts the
 * SEA blob as a note named NODE_SEA_BLOB), and the Node SEA blob header (its magic and flags,
 * e.g. whether it carries a V8 code cache). Only 64-bit little-endian ELF, which is what Node
 * ships for linux-x64 and linux-arm64.
 *
 * @example
 *   const elf = readElf("dist/release/argocd-agent-linux-arm64");
 *   elf.machine;                                   // "AArch64"
 *   seaBlobInfo(elf.notes.find((n) => n.name === "NODE_SEA_BLOB")!.desc); // { codeCache: false, … }
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

const MACHINES: Record<number, string> = { 62: "x86-64", 183: "AArch64" };
const PT_NOTE = 4;

export interface ElfNote {
  name: string;
  type: number;
  /** File offset of the descriptor (the note's payload). */
  descOffset: number;
  desc: Buffer;
}

export interface ElfInfo {
  machineCode: number;
  /** "x86-64", "AArch64", or the number for others. */
  machine: string;
  /** ET_EXEC (2; Node's linux builds) or ET_DYN (3, position-independent executables). */
  type: number;
  notes: ElfNote[];
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, offset);
  if (n !== length) throw new Error(`short read at ${offset} (wanted ${length} bytes, got ${n})`);
  return buf;
}

const align4 = (n: number) => (n + 3) & ~3;

function parseNotes(seg: Buffer, fileOffset: number): ElfNote[] {
  const notes: ElfNote[] = [];
  let at = 0;
  while (at + 12 <= seg.length) {
    const namesz = seg.readUInt32LE(at);
    const descsz = seg.readUInt32LE(at + 4);
    const type = seg.readUInt32LE(at + 8);
    const nameStart = at + 12;
    const descStart = nameStart + align4(namesz);
    if (descStart + descsz > seg.length) throw new Error(`truncated ELF note at file offset ${fileOffset + at}`);
    const name = seg.subarray(nameStart, nameStart + namesz).toString("latin1").replace(/\0+$/, "");
    notes.push({ name, type, descOffset: fileOffset + descStart, desc: seg.subarray(descStart, descStart + descsz) });
    at = descStart + align4(descsz);
  }
  return notes;
}

export function readElf(path: string): ElfInfo {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const h = readAt(fd, 0, 64);
    if (h.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path} is not an ELF file`);
    if (h[4] !== 2 || h[5] !== 1) throw new Error(`${path} is not a 64-bit little-endian ELF file`);
    const type = h.readUInt16LE(16);
    const machineCode = h.readUInt16LE(18);
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const notes: ElfNote[] = [];
    for (let i = 0; i < phnum; i++) {
      const ph = readAt(fd, phoff + i * phentsize, phentsize);
      if (ph.readUInt32LE(0) !== PT_NOTE) continue;
      const offset = Number(ph.readBigUInt64LE(8));
      const filesz = Number(ph.readBigUInt64LE(32));
      if (offset + filesz > size) throw new Error(`${path}: note segment ${i} runs past the end of the file`);
      notes.push(...parseNotes(readAt(fd, offset, filesz), offset));
    }
    // A note may sit in two PT_NOTE segments (PT_NOTE and PT_GNU_PROPERTY views); keep one of each.
    const seen = new Set<number>();
    const unique = notes.filter((n) => !seen.has(n.descOffset) && seen.add(n.descOffset));
    return { machineCode, machine: MACHINES[machineCode] ?? String(machineCode), type, notes: unique };
  } finally {
    closeSync(fd);
  }
}

/** Node's SEA blob header (src/node_sea.h: kMagic, SeaFlags). */
export const SEA_MAGIC = 0x0143da20;
export interface SeaBlobInfo {
  disableExperimentalSeaWarning: boolean;
  useSnapshot: boolean;
  codeCache: boolean;
  /** The blob carries the SEA config's execArgv. */
  execArgv: boolean;
  flags: number;
}

export function seaBlobInfo(blob: Buffer): SeaBlobInfo {
  if (blob.length < 8 || blob.readUInt32LE(0) !== SEA_MAGIC) throw new Error("not a Node SEA blob (bad magic)");
  const flags = blob.readUInt32LE(4);
  return { flags, disableExperimentalSeaWarning: (flags & 1) !== 0, useSnapshot: (flags & 2) !== 0, codeCache: (flags & 4) !== 0, execArgv: (flags & 16) !== 0 };
}
