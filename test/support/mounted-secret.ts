import * as fs from "node:fs";
import * as path from "node:path";

/**
 * A directory laid out as the kubelet mounts a Secret: each key is a symlink
 * `<key> → ..data/<key>`, `..data` a symlink to a timestamped directory, and
 * an update writes a new directory and swaps `..data` in one rename, so
 * readers see either every old file or every new one.
 */
export class MountedSecret {
  private version = 0;

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  /** Path of a key's file. */
  file(key: string): string {
    return path.join(this.dir, key);
  }

  /** Replaces every key's contents at once. */
  write(contents: Readonly<Record<string, string | Buffer>>): void {
    const version = `..${Date.now()}_${++this.version}`;
    fs.mkdirSync(path.join(this.dir, version));
    for (const [key, value] of Object.entries(contents)) fs.writeFileSync(path.join(this.dir, version, key), value, { mode: 0o600 });
    const staging = path.join(this.dir, "..data_tmp");
    fs.symlinkSync(version, staging);
    fs.renameSync(staging, path.join(this.dir, "..data"));
    for (const key of Object.keys(contents)) {
      if (!fs.existsSync(this.file(key))) fs.symlinkSync(path.join("..data", key), this.file(key));
    }
  }
}
