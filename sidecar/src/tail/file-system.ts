import * as fs from "node:fs";

/**
 * File systems that do not see what other hosts write: their change
 * notifications miss those writes, and a read can block for as long as the
 * server is away. Network and clustered file systems, FUSE (sshfs,
 * object-store mounts) and 9p, by statfs(2)'s f_type.
 */
const NETWORK_FILE_SYSTEMS = new Set([
  0x6969, // NFS
  0x517b, // SMB
  0xfe534d42, // SMB2
  0xff534d42, // CIFS
  0x00c36400, // CephFS
  0x65735546, // FUSE
  0x01021997, // 9p
  0x5346414f, // AFS
  0x01161970, // GFS2
  0x7461636f, // OCFS2
  0x47504653, // GPFS
  0x0bd00bd0, // Lustre
]);

/**
 * True when `path` (a file or directory) lies on a local file system: every
 * write to it is reported by inotify, and reading it never waits on a
 * network. False for a network file system, and when it cannot be told.
 */
export function isLocalFileSystem(path: string): boolean {
  try {
    return !NETWORK_FILE_SYSTEMS.has(fs.statfsSync(path).type);
  } catch {
    return false;
  }
}
