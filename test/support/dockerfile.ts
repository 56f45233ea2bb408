/**
 * A reader for the Dockerfiles' instructions, .dockerignore patterns and the
 * bake file, for checking the images without a container engine. It
 * understands what logtally's image files use: comments, `\` continuations,
 * ARG defaults substituted in FROM and LABEL/ENV values, FROM … AS, COPY and
 * RUN with flags, `key="value"` pairs, exec-form JSON arrays; and of HCL,
 * variable, group and target blocks of strings, lists and maps.
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
  /** The image, earlier stage or named build context it starts from, global ARG defaults substituted. */
  readonly base: string;
  readonly instructions: Instruction[];
  /** The ARGs declared before the first FROM and their defaults (undefined: none), which `ARG NAME` in a stage takes up. */
  readonly globalArgs: ReadonlyMap<string, string | undefined>;
}

/** A COPY or ADD, split into its parts. */
export interface CopyInstruction {
  readonly from: string | undefined;
  readonly sources: string[];
  readonly destination: string;
}

/**
 * Splits a Dockerfile into stages. Throws on an instruction before the first
 * FROM other than ARG, and on a FROM naming an ARG without a default.
 */
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
  const globalArgs = new Map<string, string | undefined>();
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const tokens = instruction.args.split(/\s+/).filter((token) => !token.startsWith("--"));
      const base = tokens[0];
      if (!base) throw new Error(`line ${instruction.line}: FROM without an image`);
      const name = tokens.length === 3 && tokens[1]!.toUpperCase() === "AS" ? tokens[2] : undefined;
      if (tokens.length !== 1 && name === undefined) throw new Error(`line ${instruction.line}: cannot read FROM ${instruction.args}`);
      stages.push({ index: stages.length, name, base: substitute(base, globalArgs, instruction.line), instructions: [], globalArgs });
    } else if (stages.length === 0) {
      if (instruction.keyword !== "ARG") throw new Error(`line ${instruction.line}: ${instruction.keyword} before the first FROM`);
      for (const [name, value] of argDeclarations(instruction)) globalArgs.set(name, value);
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

/** A RUN's command, without the flags (`--mount=…`, `--network=…`) before it. */
export function runCommand(instruction: Instruction): string {
  return instruction.args.replace(/^(?:--\S+\s+)*/, "");
}

/** The `key=value` pairs of a LABEL or ENV in `stage`, the ARGs and ENVs in scope at that instruction substituted. */
function keyValues(stage: Stage, instruction: Instruction): Map<string, string> {
  const scope = variablesBefore(stage, instruction);
  return new Map(pairs(instruction).map(([key, value]) => [key, substitute(value, scope, instruction.line)]));
}

/** Every LABEL of `stage`, later ones overriding earlier ones, values substituted. */
export function labels(stage: Stage): Map<string, string> {
  return mergedKeyValues(stage, "LABEL");
}

/** The environment `stage` leaves to its image: every ENV, later ones overriding earlier ones, values substituted. */
export function environment(stage: Stage): Map<string, string> {
  return mergedKeyValues(stage, "ENV");
}

function mergedKeyValues(stage: Stage, keyword: string): Map<string, string> {
  const merged = new Map<string, string>();
  for (const instruction of stage.instructions) {
    if (instruction.keyword === keyword) for (const [key, value] of keyValues(stage, instruction)) merged.set(key, value);
  }
  return merged;
}

/** The ARGs (a stage's own or taken up from the global ones) and ENVs set in `stage` before `instruction`. */
function variablesBefore(stage: Stage, instruction: Instruction): Map<string, string | undefined> {
  const scope = new Map<string, string | undefined>();
  for (const earlier of stage.instructions) {
    if (earlier === instruction) break;
    if (earlier.keyword === "ARG") {
      for (const [name, value] of argDeclarations(earlier))
        scope.set(name, value === undefined ? stage.globalArgs.get(name) : substitute(value, scope, earlier.line));
    } else if (earlier.keyword === "ENV") {
      for (const [name, value] of pairs(earlier)) scope.set(name, substitute(value, scope, earlier.line));
    }
  }
  return scope;
}

/** `ARG NAME` or `ARG NAME=default`, possibly several. */
function argDeclarations(instruction: Instruction): [string, string | undefined][] {
  return instruction.args
    .split(/\s+/)
    .filter(Boolean)
    .map((declaration) => {
      const equals = declaration.indexOf("=");
      return equals < 0 ? [declaration, undefined] : [declaration.slice(0, equals), declaration.slice(equals + 1).replace(/^"(.*)"$/, "$1")];
    });
}

/** Replaces `$NAME` and `${NAME}` (not `\$`) by their values in `scope`; throws on a name without one. */
function substitute(text: string, scope: ReadonlyMap<string, string | undefined>, line: number): string {
  return text.replace(/\\\$|\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)/g, (match, braced?: string, bare?: string) => {
    const name = braced ?? bare;
    if (name === undefined) return "$";
    const value = scope.get(name);
    if (value === undefined) throw new Error(`line ${line}: ${match} has no value here`);
    return value;
  });
}

/** The `key=value` pairs of a LABEL or ENV, quotes removed, values not yet substituted. */
function pairs(instruction: Instruction): [string, string][] {
  const found: [string, string][] = [];
  const text = instruction.args;
  let index = 0;
  /** A bare or double-quoted word starting at `index`, up to `stop` outside quotes. */
  const word = (stop: RegExp): string => {
    let result = "";
    while (index < text.length && !stop.test(text[index]!)) {
      if (text[index] === '"') {
        index++;
        while (index < text.length && text[index] !== '"') {
          if (text[index] === "\\" && /["\\]/.test(text[index + 1] ?? "")) index++;
          result += text[index++];
        }
        if (text[index] !== '"') throw new Error(`line ${instruction.line}: unterminated quote`);
        index++;
      } else result += text[index++];
    }
    return result;
  };
  for (;;) {
    while (/\s/.test(text[index] ?? "")) index++;
    if (index >= text.length) return found;
    const key = word(/[=\s]/);
    if (text[index] !== "=") throw new Error(`line ${instruction.line}: expected key=value at ${JSON.stringify(key)}`);
    index++;
    found.push([key, word(/\s/)]);
  }
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

/** A value of the bake file: a string, a list of strings or a map of them. */
export type BakeValue = string | string[] | Readonly<Record<string, string>>;

/** A bake file, its variables' defaults substituted everywhere. */
export interface BakeFile {
  /** Each variable's default. */
  readonly variables: ReadonlyMap<string, string>;
  /** Each group's attributes (`targets`). */
  readonly groups: ReadonlyMap<string, Readonly<Record<string, BakeValue>>>;
  /** Each target's attributes (`context`, `dockerfile`, `contexts`, `args`, `tags`, …). */
  readonly targets: ReadonlyMap<string, Readonly<Record<string, BakeValue>>>;
}

type HclExpression =
  | { readonly kind: "string"; readonly text: string; readonly line: number }
  | { readonly kind: "reference"; readonly name: string; readonly line: number }
  | { readonly kind: "list"; readonly items: HclExpression[] }
  | { readonly kind: "map"; readonly entries: [string, HclExpression][] };

/**
 * Reads a docker-bake.hcl made of `variable "NAME" { default = "…" }`,
 * `group` and `target` blocks whose attributes are strings (with `${NAME}`),
 * variable references, lists and maps. Throws on anything else (functions,
 * `inherits`' merging and matrices are not evaluated: `inherits` would read
 * as a plain list).
 */
export function parseBakeFile(text: string): BakeFile {
  const tokens = hclTokens(text);
  let index = 0;
  const peek = () => tokens[index];
  const next = () => {
    const token = tokens[index++];
    if (!token) throw new Error("the bake file ends too early");
    return token;
  };
  const expect = (value: string) => {
    const token = next();
    if (token.value !== value) throw new Error(`line ${token.line}: expected ${value}, found ${token.value}`);
  };
  const skipNewlines = () => {
    while (peek()?.value === "\n") index++;
  };
  const expression = (): HclExpression => {
    skipNewlines();
    const token = next();
    if (token.kind === "string") return { kind: "string", text: token.value, line: token.line };
    if (token.kind === "word") return { kind: "reference", name: token.value, line: token.line };
    if (token.value === "[") {
      const items: HclExpression[] = [];
      for (skipNewlines(); peek()?.value !== "]"; skipNewlines()) {
        items.push(expression());
        skipNewlines();
        if (peek()?.value === ",") index++;
      }
      index++;
      return { kind: "list", items };
    }
    if (token.value === "{") return { kind: "map", entries: attributes() };
    throw new Error(`line ${token.line}: cannot read ${token.value}`);
  };
  /** `key = expression` lines or comma-separated entries up to the closing brace. */
  const attributes = (): [string, HclExpression][] => {
    const entries: [string, HclExpression][] = [];
    for (skipNewlines(); peek()?.value !== "}"; skipNewlines()) {
      const key = next();
      if (key.kind !== "word" && key.kind !== "string") throw new Error(`line ${key.line}: expected an attribute name, found ${key.value}`);
      expect("=");
      entries.push([key.value, expression()]);
      if (peek()?.value === ",") index++;
    }
    index++;
    return entries;
  };
  const blocks: { type: string; label: string; body: [string, HclExpression][] }[] = [];
  for (skipNewlines(); peek(); skipNewlines()) {
    const type = next();
    const label = next();
    if (type.kind !== "word" || label.kind !== "string") throw new Error(`line ${type.line}: expected a block such as target "name" {`);
    expect("{");
    blocks.push({ type: type.value, label: label.value, body: attributes() });
  }
  const variables = new Map<string, string>();
  const evaluate = (expr: HclExpression): BakeValue => {
    switch (expr.kind) {
      case "string":
        return expr.text.replace(/\$\{([A-Za-z_]\w*)\}/g, (_, name: string) => variable(name, expr.line));
      case "reference":
        return variable(expr.name, expr.line);
      case "list":
        return expr.items.map((item) => {
          const value = evaluate(item);
          if (typeof value !== "string") throw new Error("a list holds strings only");
          return value;
        });
      case "map":
        return Object.fromEntries(
          expr.entries.map(([key, item]) => {
            const value = evaluate(item);
            if (typeof value !== "string") throw new Error(`${key}: a map holds strings only`);
            return [key, value];
          }),
        );
    }
  };
  const variable = (name: string, line: number): string => {
    const value = variables.get(name);
    if (value === undefined) throw new Error(`line ${line}: no variable ${name}`);
    return value;
  };
  const groups = new Map<string, Record<string, BakeValue>>();
  const targets = new Map<string, Record<string, BakeValue>>();
  for (const block of blocks.filter(({ type }) => type === "variable")) {
    const value = evaluate(block.body.find(([key]) => key === "default")?.[1] ?? { kind: "string", text: "", line: 0 });
    if (typeof value !== "string") throw new Error(`variable ${block.label}: the default is not a string`);
    variables.set(block.label, value);
  }
  for (const block of blocks) {
    if (block.type === "variable") continue;
    const into = block.type === "group" ? groups : block.type === "target" ? targets : undefined;
    if (!into) throw new Error(`${block.type} "${block.label}": not a variable, group or target`);
    if (into.has(block.label)) throw new Error(`${block.type} "${block.label}" is defined twice`);
    into.set(block.label, Object.fromEntries(block.body.map(([key, expr]) => [key, evaluate(expr)])));
  }
  return { variables, groups, targets };
}

/** HCL's tokens: words, strings (escapes resolved), punctuation, and newlines, which end attributes. Comments go. */
function hclTokens(text: string): { kind: "word" | "string" | "punctuation"; value: string; line: number }[] {
  const tokens: { kind: "word" | "string" | "punctuation"; value: string; line: number }[] = [];
  let line = 1;
  for (let index = 0; index < text.length; ) {
    const rest = text.slice(index);
    const comment = /^(?:#|\/\/)[^\n]*|^\/\*[\s\S]*?\*\//.exec(rest);
    const space = /^[ \t\r]+/.exec(rest);
    if (comment || space) {
      const skipped = (comment ?? space)![0];
      line += skipped.split("\n").length - 1;
      index += skipped.length;
      continue;
    }
    const char = text[index]!;
    if (char === "\n" || "{}[]=,".includes(char)) {
      tokens.push({ kind: "punctuation", value: char, line });
      if (char === "\n") line++;
      index++;
    } else if (char === '"') {
      const string = /^"((?:[^"\\\n]|\\.)*)"/.exec(rest);
      if (!string) throw new Error(`line ${line}: unterminated string`);
      tokens.push({ kind: "string", value: string[1]!.replace(/\\(.)/g, "$1"), line });
      index += string[0].length;
    } else {
      const word = /^[A-Za-z_][\w-]*/.exec(rest);
      if (!word) throw new Error(`line ${line}: cannot read ${JSON.stringify(char)}`);
      tokens.push({ kind: "word", value: word[0], line });
      index += word[0].length;
    }
  }
  return tokens;
}
