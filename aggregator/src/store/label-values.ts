/**
 * Label values (and label names) as both stores keep them: a JSON array of
 * strings. It is part of a series' key, so the same values must always give
 * the same text: JSON.stringify writes each string one way only, and the
 * values it writes hold no control characters (checkLabel refuses them), so
 * nothing is escaped but `"` and `\`.
 */
export function encodeLabels(labels: readonly string[]): string {
  return JSON.stringify(labels);
}

/** Reads what {@link encodeLabels} wrote; throws on anything else (a state damaged or written by something else). */
export function decodeLabels(text: string): string[] {
  const labels: unknown = JSON.parse(text);
  if (!Array.isArray(labels) || !labels.every((label) => typeof label === "string")) {
    throw new Error(`stored labels ${text.slice(0, 100)} are not a JSON array of strings`);
  }
  return labels;
}
