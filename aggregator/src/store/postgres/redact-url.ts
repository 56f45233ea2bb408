/** A connection URL fit for logs: its password replaced, and nothing else of it changed. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "redacted";
    if (parsed.searchParams.has("password")) parsed.searchParams.set("password", "redacted");
    return parsed.toString();
  } catch {
    return "(an unparseable URL)";
  }
}
