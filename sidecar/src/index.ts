/** The logtally sidecar as a library: used by main.ts and by tests. */
export { Sidecar } from "./sidecar";
export { parseSidecarConfig, SIDECAR_FLAGS, type SidecarConfig } from "./config";
export { SidecarMetrics } from "./metrics";
export { LineSplitter, type LineSink } from "./parse/line-splitter";
export { createRowParser, parseRow } from "./parse/row-parser";
export type { ParsedRow, RowParser } from "./parse/parsed-row";
export { DEFAULT_RULES, type CountingRules } from "./parse/counting-rules";
export { DeltaBatcher, type SealedBatch, type SeriesDelta } from "./batch/delta-batcher";
export { SIDECAR_NODE_OPTIONS } from "./node-options";
