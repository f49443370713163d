/**
 * A tar archive of a few small files, built in memory: how the Docker driver hands a worker
 * container its credentials (Docker's `putArchive`) before the container starts, without a
 * file on the host that the container would have to mount.
 */

export interface TarEntry {
  /** Path inside the archive, relative (`drover-creds/worker.creds`); a directory ends in `/`. */
  name: string;
  data?: Uint8Array;
  /** Permission bits. @default 0o644 for a file, 0o755 for a directory */
  mode?: number;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}

function header(e: TarEntry, size: number, dir: boolean): Buffer {
  if (Buffer.byteLength(e.name) > 100) throw new Error(`tar entry name too long: ${e.name}`);
  const h = Buffer.alloc(BLOCK);
  h.write(e.name, 0, "utf8");
  h.write(octal(e.mode ?? (dir ? 0o755 : 0o644), 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii"); // uid: root
  h.write(octal(0, 8), 116, "ascii"); // gid
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(Math.floor(Date.now() / 1_000), 12), 136, "ascii");
  h.write("        ", 148, "ascii"); // the checksum counts itself as spaces
  h.write(dir ? "5" : "0", 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return h;
}

/** The archive of `entries`, in order (a directory before what it holds). */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const dir = e.name.endsWith("/");
    const data = dir ? Buffer.alloc(0) : Buffer.from(e.data ?? new Uint8Array());
    parts.push(header(e, data.length, dir), data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
