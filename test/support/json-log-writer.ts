import { seededRandom } from "@logtally/testing";
import { appendInPieces } from "./log-writer";

/** app_events{level, service, namespace, status} of Kubernetes JSON lines: two labels by nested paths, one a number. */
export const APP_EVENTS_LABELS_SPEC = [
  "--format",
  "jsonl",
  "--metric",
  "app_events",
  "--label",
  "level=.level",
  "--label",
  "service=.kubernetes.labels.app",
  "--label",
  "namespace=.kubernetes.namespace_name",
  "--label",
  "status=.status",
] as const;

/** The flags that count what {@link JsonLogWriter} writes: APP_EVENTS_LABELS_SPEC of stdout lines. */
export const APP_EVENTS_SPEC = [...APP_EVENTS_LABELS_SPEC, "--where", ".stream=stdout"] as const;

/** The label names of APP_EVENTS_SPEC, in order. */
export const APP_EVENTS_LABELS = ["level", "service", "namespace", "status"] as const;

/**
 * Appends Kubernetes-style JSON log lines (a container runtime's record of an
 * application's structured log) and keeps the ground truth of what
 * APP_EVENTS_SPEC counts: "level|service|namespace|status" → lines. Mixed in,
 * and kept apart from the truth: stderr lines (filtered out), lines without a
 * level (`missing_field`) and lines that are not JSON (`invalid_json`).
 */
export class JsonLogWriter {
  readonly truth = new Map<string, number>();
  /** Lines counted, filtered and rejected (by reason), as written. */
  counted = 0;
  filtered = 0;
  readonly rejected = { missing_field: 0, invalid_json: 0 };
  private readonly random: () => number;

  constructor(
    readonly file: string,
    seed: number,
  ) {
    this.random = seededRandom(seed);
  }

  /** Appends `lines` lines, written in random-sized pieces so that lines are cut across writes. */
  append(lines: number): void {
    let text = "";
    for (let i = 0; i < lines; i++) text += `${this.line()}\n`;
    appendInPieces(this.file, text, this.random);
  }

  private line(): string {
    const roll = this.random();
    if (roll < 0.02) {
      this.rejected.invalid_json++;
      return '{"level":"info","kubernetes":';
    }
    const level = this.pick(["info", "warn", "error", "débug"]);
    const service = this.pick(["cart", "checkout", "search"]);
    const namespace = this.pick(["shop", "shop-canary"]);
    const status = this.pick([200, 404, 503]);
    const stream = roll < 0.12 ? "stderr" : "stdout";
    const record: Record<string, unknown> = {
      time: new Date(1_790_000_000_000 + Math.floor(this.random() * 1e9)).toISOString(),
      stream,
      level,
      msg: `handled "${service}" request, took ${Math.floor(this.random() * 900)} ms`,
      status,
      kubernetes: { namespace_name: namespace, pod_name: `${service}-7d9f-${Math.floor(this.random() * 10)}`, labels: { app: service } },
    };
    if (stream === "stderr") {
      this.filtered++;
    } else if (roll < 0.16) {
      delete record.level;
      this.rejected.missing_field++;
    } else {
      const key = [level, service, namespace, String(status)].join("|");
      this.truth.set(key, (this.truth.get(key) ?? 0) + 1);
      this.counted++;
    }
    return JSON.stringify(record);
  }

  private pick<T>(values: readonly T[]): T {
    return values[Math.floor(this.random() * values.length)]!;
  }
}
