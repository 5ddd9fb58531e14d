/**
 * Nothing half-written: files are written to a temporary sibling and renamed; an output folder is
 * built in a temporary sibling folder and swapped in only when complete.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/**
 * Calls `fill(tmpDir)` and moves the folder to `dir` only if it returns without throwing; on
 * failure the temporary folder is removed and `dir` is left as it was.
 */
export async function writeFolderAtomic(dir: string, fill: (tmpDir: string) => Promise<void> | void): Promise<void> {
  const abs = path.resolve(dir);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const tmp = `${abs}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const old = `${abs}.old-${process.pid}`;
  const existed = fs.existsSync(abs);
  if (existed) fs.renameSync(abs, old);
  fs.renameSync(tmp, abs);
  if (existed) fs.rmSync(old, { recursive: true, force: true });
}
