import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ChangeNotifier, TRUSTED_POLL_FACTOR } from "./change-notifier";

const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-notifier-"));
// The notifier's watch and timers never hold the process open (a sidecar's server does): the tests do.
const keepAlive = setInterval(() => {}, 1_000);
after(() => {
  clearInterval(keepAlive);
  fs.rmSync(tempRoot, { recursive: true, force: true });
});

let dirs = 0;
function logFile(): string {
  const dir = path.join(tempRoot, `dir-${++dirs}`);
  fs.mkdirSync(dir);
  const file = path.join(dir, "log.csv");
  fs.writeFileSync(file, "");
  return file;
}

const never = new AbortController().signal;

test("a write to the file wakes a wait", async () => {
  const file = logFile();
  const notifier = new ChangeNotifier(file, 60_000);
  notifier.start();
  try {
    const woke = notifier.wait(never);
    fs.appendFileSync(file, "a,b\n");
    assert.equal(await woke, "changed");
  } finally {
    notifier.stop();
  }
});

test("a write to another file of the directory does not", async () => {
  const file = logFile();
  const notifier = new ChangeNotifier(file, 60_000);
  notifier.start();
  try {
    const woke = notifier.wait(never, 300);
    fs.appendFileSync(path.join(path.dirname(file), "other.log"), "noise\n");
    assert.equal(await woke, "poll");
    // A rotation of the file does count.
    const rotated = notifier.wait(never);
    fs.writeFileSync(`${file}.1`, "a,b\n");
    assert.equal(await rotated, "changed");
  } finally {
    notifier.stop();
  }
});

test("on a local file system notifications are trusted and the poll runs less often", () => {
  const notifier = new ChangeNotifier(logFile(), 100);
  assert.equal(notifier.effectivePollIntervalMs, 100, "before a watch is open, it polls at the full rate");
  notifier.start();
  try {
    assert.equal(notifier.effectivePollIntervalMs, 100 * TRUSTED_POLL_FACTOR);
  } finally {
    notifier.stop();
  }
});

test("paused, writes go unreported; resume says so, and reports the next write again", async () => {
  const file = logFile();
  const notifier = new ChangeNotifier(file, 60_000);
  notifier.start();
  try {
    notifier.pause();
    fs.appendFileSync(file, "a,b\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(notifier.resume(), true, "resume after a pause asks for one more read");
    assert.equal(notifier.resume(), false, "a second resume has nothing to report");
    const woke = notifier.wait(never, 5_000);
    fs.appendFileSync(file, "c,d\n");
    assert.equal(await woke, "changed");
  } finally {
    notifier.stop();
  }
});

test("stop ends pending waits, and an aborted signal ends a wait at once", async () => {
  const notifier = new ChangeNotifier(logFile(), 60_000);
  notifier.start();
  const pending = notifier.wait(never);
  notifier.stop();
  assert.equal(await pending, "stopped");
  const controller = new AbortController();
  controller.abort();
  assert.equal(await notifier.wait(controller.signal), "stopped");
});
