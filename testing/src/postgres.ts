import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "./free-port";

/** Where the Debian `postgresql` packages install their versioned binaries. */
const POSTGRES_ROOT = "/usr/lib/postgresql";
/** The role, and the database it owns, that every test server has. */
const ROLE = "logtally";
/** An upper bound for one command; `pg_ctl -w` gives up by itself after 60 s. */
const COMMAND_TIMEOUT_MS = 90_000;

interface Account {
  readonly uid: number;
  readonly gid: number;
}

/**
 * A throwaway PostgreSQL server on 127.0.0.1 with its data, socket and log in a fresh temp directory.
 * Role `logtally` owns database `logtally`; without a password every connection is trusted.
 */
export class TestPostgres {
  private state: "running" | "stopped" | "destroyed" = "stopped";

  private constructor(
    private readonly binDir: string,
    private readonly account: Account | undefined,
    private readonly rootDir: string,
    readonly port: number,
    private readonly password: string | undefined,
  ) {}

  /** Data directory (`<temp dir>/data`). */
  get dataDir(): string {
    return path.join(this.rootDir, "data");
  }

  /**
   * Runs initdb and starts the server on a free port. With `password`, TCP connections need it
   * (scram-sha-256) while the Unix socket, which `psql` and `createDatabase` use, stays trusted.
   */
  static async start(options: { password?: string } = {}): Promise<TestPostgres> {
    const unavailable = postgresUnavailable();
    if (unavailable) throw new Error(unavailable);
    const account = process.getuid?.() === 0 ? postgresAccount() : undefined;
    const rootDir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-pg-"));
    const server = new TestPostgres(newestBinDir()!, account, rootDir, await freePort(), options.password);
    try {
      // The binaries run as `postgres` when we are root, so that user must own the whole tree.
      if (account) fs.chownSync(rootDir, account.uid, account.gid);
      const initdbArgs = ["-D", server.dataDir, "-U", ROLE, "-E", "UTF8", "--locale=C", "--no-sync"];
      if (options.password === undefined) initdbArgs.push("--auth=trust");
      else {
        const pwfile = path.join(rootDir, "pwfile");
        fs.writeFileSync(pwfile, `${options.password}\n`, { mode: 0o600 });
        if (account) fs.chownSync(pwfile, account.uid, account.gid);
        initdbArgs.push("--auth-host=scram-sha-256", "--auth-local=trust", `--pwfile=${pwfile}`);
      }
      await server.run("initdb", initdbArgs, account);
      await server.restart();
      await server.createDatabase(ROLE);
      return server;
    } catch (error) {
      await server.destroy();
      throw error;
    }
  }

  /** A connection URL over TCP, with the password when there is one. */
  url(database = ROLE): string {
    const secret = this.password === undefined ? "" : `:${encodeURIComponent(this.password)}`;
    return `postgres://${ROLE}${secret}@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  /** Creates a database owned by `logtally`. */
  async createDatabase(name: string): Promise<void> {
    await this.run("createdb", [...this.socketArgs(), name]);
  }

  /** Runs `sql` with psql over the Unix socket; resolves with its unaligned, tuples-only output, trimmed. */
  async psql(sql: string, database = ROLE): Promise<string> {
    const stdout = await this.run("psql", ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", ...this.socketArgs(), "-d", database, "-c", sql]);
    return stdout.trim();
  }

  /** Stops the server and waits until it has exited; does nothing unless it is running. */
  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    if (this.state !== "running") return;
    await this.run("pg_ctl", ["-D", this.dataDir, "-m", mode, "-w", "stop"], this.account);
    this.state = "stopped";
  }

  /** Starts the server (again) on the same port and data directory, stopping it first if it runs. */
  async restart(): Promise<void> {
    if (this.state === "destroyed") throw new Error("TestPostgres.restart: the server was destroyed");
    await this.stop();
    const serverOptions = `-p ${this.port} -k ${this.rootDir} -c listen_addresses=127.0.0.1 -c fsync=on`;
    try {
      await this.run("pg_ctl", ["-D", this.dataDir, "-l", this.logFile(), "-o", serverOptions, "-w", "start"], this.account);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nserver.log (tail):\n${this.log().split("\n").slice(-20).join("\n")}`);
    }
    this.state = "running";
  }

  /** Stops the server if it runs (immediate mode) and removes the temp directory; idempotent. */
  async destroy(): Promise<void> {
    if (this.state === "destroyed") return;
    try {
      await this.stop("immediate");
    } catch (error) {
      // A server that a test killed cannot be stopped, and need not be; one that still runs keeps its directory.
      if (await this.serverRunning()) throw error;
    }
    this.state = "destroyed";
    fs.rmSync(this.rootDir, { recursive: true, force: true });
  }

  /** The server's log so far, for failure messages; empty when there is none (yet, or any more). */
  log(): string {
    return fs.existsSync(this.logFile()) ? fs.readFileSync(this.logFile(), "utf8") : "";
  }

  /** Whether a postmaster runs on the data directory (`pg_ctl status` exits 0). */
  private serverRunning(): Promise<boolean> {
    return this.run("pg_ctl", ["-D", this.dataDir, "status"], this.account).then(
      () => true,
      () => false,
    );
  }

  private logFile(): string {
    return path.join(this.rootDir, "server.log");
  }

  /** Connection flags for the Unix socket; `-w` because a password prompt would wait forever on a pipe. */
  private socketArgs(): string[] {
    return ["-w", "-h", this.rootDir, "-p", String(this.port), "-U", ROLE];
  }

  /** Runs one binary (as `account` if given) and resolves with its stdout; rejects naming command, exit code and stderr. */
  private run(binary: string, args: string[], account?: Account): Promise<string> {
    const command = path.join(this.binDir, binary);
    // cwd is the temp dir because the postgres user may not be able to enter ours.
    const options = { cwd: this.rootDir, timeout: COMMAND_TIMEOUT_MS, ...account };
    return new Promise((resolve, reject) => {
      execFile(command, args, options, (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const exit = error.code ?? error.signal;
        const shown = args.map((arg) => (/\s/.test(arg) ? JSON.stringify(arg) : arg)).join(" ");
        reject(new Error(`${command} ${shown} failed (exit ${exit}): ${stderr.trim() || error.message}`));
      });
    });
  }
}

/** Why PostgreSQL end-to-end tests cannot run here (to skip them), or undefined when they can. */
export function postgresUnavailable(): string | undefined {
  const binDir = newestBinDir();
  if (!binDir) return `no PostgreSQL binaries under ${POSTGRES_ROOT}/*/bin: install the Debian package postgresql`;
  if (process.getuid?.() === 0) {
    return postgresAccount() ? undefined : "running as root, and there is no postgres user to run initdb and postgres as";
  }
  try {
    fs.accessSync(path.join(binDir, "initdb"), fs.constants.X_OK);
    return undefined;
  } catch {
    return `${binDir}/initdb is not executable by this user`;
  }
}

/** The bin directory of the highest installed major version that has initdb. */
function newestBinDir(): string | undefined {
  if (!fs.existsSync(POSTGRES_ROOT)) return undefined;
  const versions = fs
    .readdirSync(POSTGRES_ROOT)
    .filter((version) => fs.existsSync(path.join(POSTGRES_ROOT, version, "bin", "initdb")))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  return versions[0] === undefined ? undefined : path.join(POSTGRES_ROOT, versions[0], "bin");
}

/** The `postgres` system user, which initdb, pg_ctl and postgres need when we are root (they refuse root). */
function postgresAccount(): Account | undefined {
  try {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    return undefined;
  }
}
