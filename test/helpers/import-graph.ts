/**
 * The project's import graph, read from the sources with the TypeScript parser (no type checking): every
 * `import`, `export ... from`, dynamic `import()` and `require()` of every file under a root, with local
 * specifiers resolved to repo-relative paths. Type-only imports (`import type`, `export type`) are kept but
 * marked, since they are erased at runtime (`import { type X }` is not: with verbatimModuleSyntax it stays a
 * side-effect import). Used by test/architecture.test.ts (layer rules, cycles) and
 * test/verifier-browser.test.ts (the SDK's runtime closure).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, posix, relative } from "node:path";
import ts from "typescript";

export interface ImportEdge {
  /** Importing file, repo-relative with `/` separators. */
  readonly from: string;
  /** Imported file (repo-relative) for a local specifier, else the package specifier as written. */
  readonly to: string;
  readonly local: boolean;
  /** Erased at runtime (`import type`, `export type`). */
  readonly typeOnly: boolean;
}

/** Files (repo-relative) and their outgoing edges. */
export type ImportGraph = ReadonlyMap<string, readonly ImportEdge[]>;

const SOURCE_FILE = /\.(ts|mts|mjs|js)$/;

/** Module specifiers of one source text, with whether each is type-only. */
export function specifiersOf(file: string, text: string): { specifier: string; typeOnly: boolean }[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: { specifier: string; typeOnly: boolean }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const specifier = (node.moduleSpecifier as ts.StringLiteral).text;
      found.push({ specifier, typeOnly: node.importClause?.isTypeOnly === true });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      found.push({ specifier: (node.moduleSpecifier as ts.StringLiteral).text, typeOnly: node.isTypeOnly });
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === "require"))
    ) {
      const [argument] = node.arguments;
      found.push({
        specifier: argument && ts.isStringLiteral(argument) ? argument.text : "<dynamic>",
        typeOnly: false,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The graph of in-memory sources (repo-relative path -> text); for the project and for rule fixtures. */
export function graphOfSources(sources: Readonly<Record<string, string>>): ImportGraph {
  const graph = new Map<string, ImportEdge[]>();
  for (const [from, text] of Object.entries(sources)) {
    graph.set(
      from,
      specifiersOf(from, text).map(({ specifier, typeOnly }) => {
        const local = specifier.startsWith(".");
        const to = local ? posix.normalize(posix.join(posix.dirname(from), specifier)) : specifier;
        return { from, to, local, typeOnly };
      }),
    );
  }
  return graph;
}

/** The graph of every source file under `root/dir` (declaration files excluded), paths relative to `root`. */
export function graphOfTree(root: string, dir = "src"): ImportGraph {
  const sources: Record<string, string> = {};
  const walk = (absolute: string): void => {
    for (const entry of readdirSync(absolute, { withFileTypes: true })) {
      const path = join(absolute, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (SOURCE_FILE.test(entry.name) && !entry.name.endsWith(".d.ts")) {
        sources[relative(root, path).split("\\").join("/")] = readFileSync(path, "utf8");
      }
    }
  };
  walk(join(root, dir));
  return graphOfSources(sources);
}

/** Every file reached from `entry` at runtime (type-only edges skipped), and every package edge on the way. */
export function runtimeClosure(
  graph: ImportGraph,
  entry: string,
): { files: string[]; packages: ImportEdge[] } {
  const files = new Set<string>();
  const packages: ImportEdge[] = [];
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    for (const edge of graph.get(file) ?? []) {
      if (edge.typeOnly) continue;
      if (edge.local) pending.push(edge.to);
      else packages.push(edge);
    }
  }
  return { files: [...files].sort(), packages };
}

/** The shortest runtime import chain from `entry` to `target` (for messages), or undefined. */
export function runtimeChain(graph: ImportGraph, entry: string, target: string): string[] | undefined {
  const previous = new Map<string, string | undefined>([[entry, undefined]]);
  const queue = [entry];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    for (const edge of graph.get(file) ?? []) {
      if (edge.typeOnly || previous.has(edge.to)) continue;
      previous.set(edge.to, file);
      if (edge.to === target) {
        const chain = [target];
        for (let step = previous.get(target); step !== undefined; step = previous.get(step))
          chain.unshift(step);
        return chain;
      }
      if (edge.local) queue.push(edge.to);
    }
  }
  return undefined;
}

/**
 * Cycles of a directed graph given as node -> successors, one per strongly connected component of more
 * than one node (or a self-loop), each written as a closed path `a -> b -> ... -> a`.
 */
export function cyclesOf(successors: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node) as number);
    stack.push(node);
    onStack.add(node);
    for (const next of successors.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) as number, index.get(next) as number));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || successors.get(node)?.has(node)) components.push(component);
    }
  };
  for (const node of [...successors.keys()].sort()) if (!index.has(node)) connect(node);
  return components.map((component) => closedPath(successors, new Set(component)));
}

/** One closed path through a strongly connected component, from its smallest node. */
function closedPath(
  successors: ReadonlyMap<string, ReadonlySet<string>>,
  component: ReadonlySet<string>,
): string[] {
  const start = [...component].sort()[0] as string;
  // Breadth-first search back to `start` inside the component gives a shortest cycle through it.
  const previous = new Map<string, string>();
  const queue = [start];
  for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
    for (const next of [...(successors.get(node) ?? [])].sort()) {
      if (!component.has(next)) continue;
      if (next === start) {
        const path = [start];
        for (let step = node; step !== start; step = previous.get(step) as string) path.splice(1, 0, step);
        return [...path, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

/** File-level successors of local edges (type-only edges included: a type cycle is still a cycle). */
export function fileSuccessors(graph: ImportGraph): Map<string, Set<string>> {
  const successors = new Map<string, Set<string>>();
  for (const [file, edges] of graph) {
    successors.set(file, new Set(edges.filter((edge) => edge.local).map((edge) => edge.to)));
  }
  return successors;
}

/** Folder-level successors: `folderOf(file)` for both ends of each local edge across folders. */
export function folderSuccessors(
  graph: ImportGraph,
  folderOf: (file: string) => string,
): Map<string, Set<string>> {
  const successors = new Map<string, Set<string>>();
  for (const [file, edges] of graph) {
    const from = folderOf(file);
    const targets = successors.get(from) ?? new Set<string>();
    successors.set(from, targets);
    for (const edge of edges) {
      if (edge.local && folderOf(edge.to) !== from) targets.add(folderOf(edge.to));
    }
  }
  return successors;
}
