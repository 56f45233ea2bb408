import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { INJECTOR_MAIN, assertBuilt, programEnv, runToExit } from "@logtally/testing";

/** `logtally-injector inject` as a real process: input from a file or stdin, output on stdout, exit codes. */

const TESTDATA = path.join(__dirname, "testdata");
const testdata = (name: string): string => fs.readFileSync(path.join(TESTDATA, name), "utf8");

describe("logtally-injector inject", () => {
  let dir: string;
  before(() => {
    assertBuilt(INJECTOR_MAIN);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-inject-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads a FILE and writes the injected stream to stdout", async () => {
    const { code, stdout, stderr } = await runToExit(INJECTOR_MAIN, ["inject", path.join(TESTDATA, "log-exporter-pvc.input.yaml")]);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    assert.equal(stdout, testdata("log-exporter-pvc.golden.yaml"));
  });

  it("reads stdin without a FILE, and with -", async () => {
    for (const args of [["inject"], ["inject", "-"]]) {
      const { code, stdout, stderr } = await runToExit(INJECTOR_MAIN, args, { stdin: testdata("statefulset.input.yaml") });
      assert.equal(code, 0, stderr);
      assert.equal(stdout, testdata("statefulset.golden.yaml"), args.join(" "));
    }
  });

  it("--all injects templates without the annotation", async () => {
    const { code, stdout, stderr } = await runToExit(INJECTOR_MAIN, ["inject", "--all"], { stdin: testdata("all-flag.input.yaml") });
    assert.equal(code, 0, stderr);
    assert.equal(stdout, testdata("all-flag.golden.yaml"));
  });

  it("its own output comes back byte for byte", async () => {
    const golden = testdata("list.golden.yaml");
    const { code, stdout } = await runToExit(INJECTOR_MAIN, ["inject", "-"], { stdin: golden });
    assert.equal(code, 0);
    assert.equal(stdout, golden);
  });

  it("takes image and aggregator from the environment, and from flags over it", async () => {
    const input = testdata("job.input.yaml");
    const env = programEnv({ LOGTALLY_INJECT_IMAGE: "env.example.com/sidecar:1", LOGTALLY_INJECT_AGGREGATOR: "env-aggregator:1" });
    const fromEnv = await runToExit(INJECTOR_MAIN, ["inject"], { stdin: input, env });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.match(fromEnv.stdout, /\n {10}image: env\.example\.com\/sidecar:1\n/);
    assert.match(fromEnv.stdout, /\n {14}value: env-aggregator:1\n/);
    const fromFlags = await runToExit(INJECTOR_MAIN, ["inject", "--image", "flag.example.com/sidecar:2", "--aggregator=flag-aggregator:2"], {
      stdin: input,
      env,
    });
    assert.equal(fromFlags.code, 0, fromFlags.stderr);
    assert.match(fromFlags.stdout, /\n {10}image: flag\.example\.com\/sidecar:2\n/);
    assert.match(fromFlags.stdout, /\n {14}value: flag-aggregator:2\n/);
    assert.doesNotMatch(fromFlags.stdout, /env\.example\.com|env-aggregator/);
  });

  it("--help documents the switch and each flag with its variable and default", async () => {
    const { code, stdout, stderr } = await runToExit(INJECTOR_MAIN, ["inject", "--help"]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^Usage: logtally-injector inject /);
    assert.match(stdout, /\n {2}--all\n/);
    assert.match(stdout, /\n {2}--image <value> +\[LOGTALLY_INJECT_IMAGE\] \(default: ghcr\.io\/logtally\/logtally-sidecar:0\.1\.0\)\n/);
    assert.match(stdout, /\n {2}--aggregator <value> +\[LOGTALLY_INJECT_AGGREGATOR\] \(default: logtally-aggregator\.logtally\.svc:50051\)\n/);
    assert.match(stdout, /\n {2}--token-secret <value> +\[LOGTALLY_INJECT_TOKEN_SECRET\]\n/);
  });

  it("--token-secret mounts the token's Secret into every injected sidecar", async () => {
    const { code, stdout, stderr } = await runToExit(INJECTOR_MAIN, ["inject", "--token-secret", "logtally-token"], { stdin: testdata("job.input.yaml") });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /\n {14}value: \/var\/run\/secrets\/logtally\/token\n/);
    assert.match(stdout, /\n {12}secretName: logtally-token\n/);
  });

  describe("exits 1 with the document's position on stderr and nothing on stdout", () => {
    it("for bad YAML in the second document", async () => {
      const input = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\ndata:\n\tkey: value\n";
      const { code, stdout, stderr } = await runToExit(INJECTOR_MAIN, ["inject"], { stdin: input });
      assert.equal(code, 1);
      assert.equal(stdout, "");
      assert.equal(stderr, "logtally-injector inject: <stdin>: document 2, line 8:1: Tabs are not allowed as indentation\n");
    });

    it("for a template that cannot be injected, naming the file, the document and the workload", async () => {
      const file = path.join(dir, "relative.yaml");
      fs.writeFileSync(file, `apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n${testdata("deployment-emptydir.input.yaml")}`);
      fs.appendFileSync(
        file,
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  annotations: {logtally.io/inject: 'true', logtally.io/log-path: log.csv}\nspec: {containers: [{name: c, image: i}]}\n",
      );
      const { code, stdout, stderr } = await runToExit(INJECTOR_MAIN, ["inject", file]);
      assert.equal(code, 1);
      assert.equal(stdout, "", "a partial stream was written");
      assert.equal(stderr, `logtally-injector inject: ${file}: document 3: Pod/web: logtally.io/log-path must be an absolute path, got "log.csv"\n`);
    });

    it("for a FILE that cannot be read", async () => {
      const missing = path.join(dir, "missing.yaml");
      const { code, stdout, stderr } = await runToExit(INJECTOR_MAIN, ["inject", missing]);
      assert.equal(code, 1);
      assert.equal(stdout, "");
      assert.match(stderr, new RegExp(`^logtally-injector inject: cannot read ${missing}: ENOENT`));
    });
  });

  describe("exits 2 on a bad command line, naming the problem", () => {
    for (const [args, env, names] of [
      [["inject", "--bogus"], {}, /--bogus/],
      [["inject", "--all=yes"], {}, /--all/],
      [["inject", "a.yaml", "b.yaml"], {}, /at most one FILE/],
      [["inject", "--aggregator", "no-port"], {}, /--aggregator: expected host:port/],
      [["inject", "--image", ""], {}, /--image must be an image reference/],
      [["inject", "--token-secret", "Not/A/Name"], {}, /--token-secret must be the name of a Secret/],
      [["inject"], { LOGTALLY_INJECT_AGGREGATOR: "no-port" }, /LOGTALLY_INJECT_AGGREGATOR \(--aggregator\)/],
    ] as const) {
      it([...Object.entries(env).map(([name, value]) => `${name}=${value}`), ...args].join(" "), async () => {
        const { code, stdout, stderr } = await runToExit(INJECTOR_MAIN, [...args], { env: programEnv(env) });
        assert.equal(code, 2, stderr);
        assert.equal(stdout, "");
        assert.match(stderr, names);
        assert.match(stderr, /Try --help/);
      });
    }
  });

  it("ends at once on SIGTERM while waiting for stdin", async () => {
    const child = spawn(process.execPath, [INJECTOR_MAIN, "inject"], { stdio: ["pipe", "pipe", "pipe"], env: programEnv() });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    try {
      // Send the signal once the program idles in its event loop, waiting for stdin: it has loaded
      // and installed whatever handlers it has. (Where /proc does not tell, after at most 5 s.)
      const idle = (): boolean => fs.readFileSync(`/proc/${child.pid}/wchan`, "utf8") === "do_epoll_wait";
      for (let waitedMs = 0; waitedMs < 5_000 && !idle(); waitedMs += 10) await sleep(10);
      child.kill("SIGTERM");
      const outcome = await Promise.race([exited, sleep(5_000, "still running 5 s after SIGTERM", { ref: false })]);
      assert.deepEqual(outcome, { code: null, signal: "SIGTERM" });
    } finally {
      child.kill("SIGKILL");
    }
  });
});
