/** One Prometheus relabelling rule, in prometheus.yml spelling. */
export interface RelabelRule {
  readonly source_labels?: readonly string[];
  readonly separator?: string;
  readonly regex?: string;
  readonly target_label?: string;
  readonly replacement?: string;
  readonly action?: string;
}

/** A ServiceMonitor's relabelling in Prometheus' spelling. */
export function fromServiceMonitorRule(rule: Record<string, unknown>): RelabelRule {
  return {
    source_labels: rule.sourceLabels as string[] | undefined,
    separator: rule.separator as string | undefined,
    regex: rule.regex as string | undefined,
    target_label: rule.targetLabel as string | undefined,
    replacement: rule.replacement as string | undefined,
    action: rule.action as string | undefined,
  };
}

/**
 * Applies `rules` to a discovered target's labels as Prometheus does for the
 * actions keep, drop and replace (regexes fully anchored; defaults: separator
 * ";", regex "(.*)", replacement "$1", action replace). Returns the labels, or
 * undefined when the target is dropped. Any other action is an error.
 */
export function relabel(labels: Readonly<Record<string, string>>, rules: readonly RelabelRule[]): Record<string, string> | undefined {
  const result = { ...labels };
  for (const rule of rules) {
    const value = (rule.source_labels ?? []).map((name) => result[name] ?? "").join(rule.separator ?? ";");
    const regex = new RegExp(`^(?:${rule.regex ?? "(.*)"})$`);
    const match = regex.exec(value);
    switch ((rule.action ?? "replace").toLowerCase()) {
      case "keep":
        if (!match) return undefined;
        break;
      case "drop":
        if (match) return undefined;
        break;
      case "replace": {
        if (!match) break;
        if (!rule.target_label) throw new Error("a replace rule needs target_label");
        const replaced = (rule.replacement ?? "$1").replace(/\$\{(\d+)\}|\$(\d+)/g, (_, braced?: string, bare?: string) => match[Number(braced ?? bare)] ?? "");
        if (replaced === "") delete result[rule.target_label];
        else result[rule.target_label] = replaced;
        break;
      }
      default:
        throw new Error(`relabel action ${rule.action} is not simulated`);
    }
  }
  return result;
}
