// The local demo: an aggregator, two sidecars (one per "pod"), and a writer
// appending rows to each pod's log.csv. Every two seconds it prints the
// aggregator's log_host_job_count next to the rows written; on Ctrl-C (or
// after --seconds) it stops writing, waits until everything written is
// counted, prints the comparison and stops every process gracefully.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";
import { parseArgs } from "node:util";

const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "..");
const { values: options } = parseArgs({
  options: {
    "grpc-listen": { type: "string", default: "127.0.0.1:50051" },
    "metrics-listen": { type: "string", default: "127.0.0.1:9464" },
    dir: { type: "string", default: path.join(root, ".demo") },
    seconds: { type: "string" },
    "rows-per-second": { type: "string", default: "200" },
    help: { type: "boolean", short: "h" },
  },
});
if (options.help) {
  console.log(`Usage: npm run demo -- [--grpc-listen host:port] [--metrics-listen host:port] [--dir DIR] [--seconds N] [--rows-per-second N]
Runs an aggregator, two sidecars and a writer until Ctrl-C (or for N seconds), then checks the counts.
State and logs live in DIR (default .demo/); it is kept between runs, so counts carry on.`);
  process.exit(0);
}

const dir = path.resolve(options.dir);
const logDir = path.join(dir, "logs");
fs.mkdirSync(logDir, { recursive: true });
const children = [];

function start(name, main, args) {
  const log = fs.openSync(path.join(logDir, `${name}.log`), "a");
  const child = spawn(process.execPath, [path.join(root, main), ...args], { stdio: ["ignore", log, "pipe"] });
  const lines = readline.createInterface({ input: child.stderr });
  lines.on("line", (line) => fs.appendFileSync(path.join(logDir, `${name}.log`), `${line}\n`));
  children.push({ name, child, lines });
  return { child, lines };
}

function waitForLine(started, msg) {
  return new Promise((resolve, reject) => {
    started.lines.on("line", (text) => {
      try {
        const line = JSON.parse(text);
        if (line.msg === msg) resolve(line);
      } catch {}
    });
    started.child.once("exit", (code) => reject(new Error(`exited with ${code} before "${msg}"; see ${logDir}`)));
  });
}

const aggregator = start("aggregator", "aggregator/dist/main.js", [
  "--grpc-listen", options["grpc-listen"],
  "--metrics-listen", options["metrics-listen"],
  "--state-dir", path.join(dir, "state"),
]);
const started = await waitForLine(aggregator, "aggregator started");
const grpcHost = options["grpc-listen"].replace(/:\d+$/, "").replace(/^0\.0\.0\.0$/, "127.0.0.1");
const metricsHost = options["metrics-listen"].replace(/:\d+$/, "").replace(/^0\.0\.0\.0$/, "127.0.0.1");
const grpcAddress = `${grpcHost}:${started.grpcPort}`;
const metricsUrl = `http://${metricsHost}:${started.metricsPort}/metrics`;

const pods = ["pod-a", "pod-b"].map((pod) => {
  const file = path.join(dir, pod, "log.csv");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (!fs.existsSync(file)) fs.writeFileSync(file, "host,job_name\n");
  start(`sidecar-${pod}`, "sidecar/dist/main.js", ["--file", file, "--aggregator", grpcAddress, "--source-id", `demo/${pod}`, "--sidecar-id", pod]);
  return { pod, file };
});

console.log(`logtally demo
  aggregator gRPC   ${grpcAddress}   (grpcurl -plaintext ${grpcAddress} list)
  Prometheus scrape ${metricsUrl}
  status page       ${metricsUrl.replace(/metrics$/, "")}
  pod log files     ${pods.map((p) => path.relative(process.cwd(), p.file)).join(", ")}
  process logs      ${path.relative(process.cwd(), logDir)}/
Press Ctrl-C to stop.
`);

// The writer: rows for a few (host, job) pairs; what it writes is the truth.
const hosts = ["server1", "server2", "server3"];
const jobs = ["backup", "cron", "report"];
const written = new Map();
const baseline = await scrapeCounts().catch(() => new Map());
let writing = true;
const rowsPerTick = Math.max(1, Math.round(Number(options["rows-per-second"]) / 5));
const writer = setInterval(() => {
  if (!writing) return;
  for (const { file } of pods) {
    let text = "";
    for (let i = 0; i < rowsPerTick; i++) {
      const host = hosts[Math.floor(Math.random() * hosts.length)];
      const job = jobs[Math.floor(Math.random() * jobs.length)];
      text += `${host},${job}\n`;
      written.set(`${host}|${job}`, (written.get(`${host}|${job}`) ?? 0) + 1);
    }
    fs.appendFileSync(file, text);
  }
}, 200);

async function scrape() {
  const response = await fetch(metricsUrl);
  return response.text();
}

async function scrapeCounts() {
  const counts = new Map();
  for (const line of (await scrape()).split("\n")) {
    const match = /^log_host_job_count\{host="(.*)",job_name="(.*)"\} (\d+)$/.exec(line);
    if (match) counts.set(`${match[1]}|${match[2]}`, Number(match[3]));
  }
  return counts;
}

async function printCounts(title) {
  const counts = await scrapeCounts();
  console.log(title);
  console.log("  host      job_name   counted  written");
  let exact = true;
  for (const key of [...new Set([...counts.keys(), ...written.keys()])].sort()) {
    const [host, job] = key.split("|");
    const counted = (counts.get(key) ?? 0) - (baseline.get(key) ?? 0);
    const rows = written.get(key) ?? 0;
    if (counted !== rows) exact = false;
    console.log(`  ${host.padEnd(9)} ${job.padEnd(10)} ${String(counted).padStart(7)}  ${String(rows).padStart(7)}`);
  }
  return exact;
}

const printer = setInterval(() => void printCounts(`live counts (${new Date().toISOString()}):`).catch(() => {}), 2000);

async function committedEqualsSizes() {
  const text = await scrape();
  return pods.every(({ pod, file }) => {
    const match = new RegExp(`^logtally_source_committed_offset_bytes\\{source_id="demo/${pod}"\\} (\\d+)$`, "m").exec(text);
    return match && Number(match[1]) === fs.statSync(file).size;
  });
}

let stopping = false;
async function finish() {
  if (stopping) return;
  stopping = true;
  writing = false;
  clearInterval(writer);
  clearInterval(printer);
  const deadline = Date.now() + 30_000;
  while (!(await committedEqualsSizes().catch(() => false)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const exact = await printCounts("final counts (this run):");
  console.log(exact ? "every row written was counted exactly once" : "MISMATCH: counts differ from rows written");
  for (const { child } of children.filter((c) => c.name !== "aggregator")) child.kill("SIGTERM");
  await Promise.all(children.filter((c) => c.name !== "aggregator").map(({ child }) => new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)))));
  aggregator.child.kill("SIGTERM");
  await new Promise((r) => (aggregator.child.exitCode !== null ? r() : aggregator.child.once("exit", r)));
  process.exit(exact ? 0 : 1);
}

process.on("SIGINT", finish);
process.on("SIGTERM", finish);
if (options.seconds) setTimeout(finish, Number(options.seconds) * 1000);
for (const { name, child } of children) {
  child.once("exit", (code) => {
    if (!stopping) {
      console.error(`${name} exited unexpectedly (${code}); see ${logDir}/${name}.log`);
      void finish();
    }
  });
}
