/**
 * A reader for the Dockerfiles' instructions and .dockerignore patterns, for
 * checking the images without a container engine. It understands what
 * logtally's Dockerfiles use: comments, `\` continuations, FROM … AS, COPY
 * with flags, exec-form JSON arrays.
 */

/** One instruction, continuation lines joined. */
export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  readonly keyword: string;
  readonly args: string;
  /** 1-based line where it starts. */
  readonly line: number;
}

/** One build stage: its FROM and the instructions after it. */
export interface Stage {
  readonly index: number;
  readonly name: string | undefined;
  readonly base: string;
  readonly instructions: Instruction[];
}

/** A COPY or ADD, split into its parts. */
export interface CopyInstruction {
  readonly from: string | undefined;
  readonly sources: string[];
  readonly destination: string;
}

/** Splits a Dockerfile into stages. Throws on an instruction before the first FROM other than ARG. */
export function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split("\n").forEach((raw, index) => {
    const trimmed = raw.trim();
    // Comment and empty lines are skipped, also inside a continued instruction.
    if (trimmed.startsWith("#") || trimmed === "") return;
    const continued = /\\\s*$/.test(raw);
    const part = continued ? raw.replace(/\\\s*$/, "") : raw;
    pending = pending ? { text: `${pending.text} ${part.trim()}`, line: pending.line } : { text: part.trim(), line: index + 1 };
    if (continued) return;
    const [, keyword = "", args = ""] = /^(\S+)\s*(.*)$/s.exec(pending.text) ?? [];
    instructions.push({ keyword: keyword.toUpperCase(), args: args.trim(), line: pending.line });
    pending = undefined;
  });
  if (pending) throw new Error(`line ${pending.line}: the file ends inside a continued instruction`);
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const tokens = instruction.args.split(/\s+/).filter((token) => !token.startsWith("--"));
      const base = tokens[0];
      if (!base) throw new Error(`line ${instruction.line}: FROM without an image`);
      const name = tokens.length === 3 && tokens[1]!.toUpperCase() === "AS" ? tokens[2] : undefined;
      if (tokens.length !== 1 && name === undefined) throw new Error(`line ${instruction.line}: cannot read FROM ${instruction.args}`);
      stages.push({ index: stages.length, name, base, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== "ARG") throw new Error(`line ${instruction.line}: ${instruction.keyword} before the first FROM`);
    } else {
      stages[stages.length - 1]!.instructions.push(instruction);
    }
  }
  return stages;
}

/** Reads a COPY/ADD's flags, sources and destination. */
export function parseCopy(instruction: Instruction): CopyInstruction {
  let rest = instruction.args;
  let from: string | undefined;
  for (;;) {
    const flag = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest);
    if (!flag) break;
    if (flag[1] === "from") from = flag[2];
    rest = rest.slice(flag[0].length);
  }
  const paths = rest.startsWith("[") ? (JSON.parse(rest) as string[]) : rest.split(/\s+/).filter(Boolean);
  if (paths.length < 2) throw new Error(`line ${instruction.line}: COPY needs a source and a destination`);
  return { from, sources: paths.slice(0, -1), destination: paths[paths.length - 1]! };
}

/** The exec-form (JSON array) arguments of an ENTRYPOINT or CMD, or undefined for the shell form. */
export function execForm(instruction: Instruction): string[] | undefined {
  if (!instruction.args.startsWith("[")) return undefined;
  const parsed: unknown = JSON.parse(instruction.args);
  if (!Array.isArray(parsed) || parsed.some((item) => typeof item !== "string")) throw new Error(`line ${instruction.line}: not a JSON array of strings`);
  return parsed as string[];
}

/**
 * The absolute path a stage-relative destination lands on, given the WORKDIRs
 * before `instruction` in `stage`.
 */
export function absoluteDestination(stage: Stage, instruction: Instruction, destination: string): string {
  let workdir = "/";
  for (const earlier of stage.instructions) {
    if (earlier === instruction) break;
    if (earlier.keyword === "WORKDIR") workdir = earlier.args.startsWith("/") ? earlier.args : `${workdir.replace(/\/$/, "")}/${earlier.args}`;
  }
  return destination.startsWith("/") ? destination : `${workdir.replace(/\/$/, "")}/${destination}`;
}

/**
 * Whether a .dockerignore excludes `relativePath` from the build context, as
 * Docker decides it: each pattern (`*`, `?`, `**`, leading `!` to re-include)
 * matches a path or any of its parent directories, and the last matching
 * pattern wins.
 */
export function dockerignoreExcludes(dockerignore: string, relativePath: string): boolean {
  const patterns = dockerignore
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const candidates = relativePath.split("/").map((_, index, parts) => parts.slice(0, index + 1).join("/"));
  let excluded = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith("!");
    const regex = patternRegex((negated ? pattern.slice(1) : pattern).replace(/^\/+/, "").replace(/\/+$/, ""));
    if (candidates.some((candidate) => regex.test(candidate))) excluded = !negated;
  }
  return excluded;
}

function patternRegex(pattern: string): RegExp {
  let source = "";
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index]!;
    if (pattern.startsWith("**/", index)) {
      source += "(?:.*/)?";
      index += 2;
    } else if (pattern.startsWith("**", index)) {
      source += ".*";
      index += 1;
    } else if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}
