/**
 * V8 heap limits the sidecar runs with (its image's entrypoint passes them to
 * node). Reading at full speed allocates fast, and V8 then lets garbage grow
 * the heap; small young and old generations keep the peak resident set of a
 * catch-up on a file of 10,000 pairs near 125 MB (the bench's `memory`
 * figure) for some 30% more CPU spent collecting.
 */
export const SIDECAR_NODE_OPTIONS = ["--max-semi-space-size=2", "--max-old-space-size=96"] as const;
