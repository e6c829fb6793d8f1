import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';

/**
 * The wiring rules of docs/ARCHITECTURE.md, read from the source: app.ts is imported only by the CLI (the tests and
 * benches build apps from outside src/server); no import cycle among the server's modules; routes never announce
 * events (their services do, after commit).
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const SERVER = path.join(ROOT, 'src/server');
const APP = path.join(SERVER, 'app.ts');
/** The only server module that may build the app: the `openvisit` command (`serve`). */
const APP_IMPORTERS = new Set([path.join(SERVER, 'cli/main.ts')]);

interface Edge {
  to: string;
  /** `import type` / `export type`: erased when compiled, so it loads nothing. */
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) out.push(...sourceFiles(file));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(file);
  }
  return out;
}

/** Relative imports and re-exports of one module, resolved to files (`./x.js` is `./x.ts` in the source). */
function importsOf(file: string): Edge[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const edges: Edge[] = [];
  const add = (specifier: string, typeOnly: boolean) => {
    if (!specifier.startsWith('.')) return;
    const target = path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts'));
    const resolved = existsSync(target) ? target : path.join(target.replace(/\.ts$/, ''), 'index.ts');
    assert.ok(existsSync(resolved), `${path.relative(ROOT, file)} imports ${specifier}, which does not resolve`);
    edges.push({ to: resolved, typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) add(node.moduleSpecifier.text, node.importClause?.isTypeOnly === true);
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) add(node.moduleSpecifier.text, node.isTypeOnly);
    // A dynamic import loads the module too (later, but a cycle through it is a cycle all the same).
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) add(node.arguments[0].text, false);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** One cycle of the graph, as a path that starts and ends at the same module, or null. Depth-first, in file order. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const walk = (node: string): string[] | null => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const found = walk(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    if (state.has(node)) continue;
    const found = walk(node);
    if (found) return found;
  }
  return null;
}

const files = sourceFiles(SERVER);
const imports = new Map(files.map((file) => [file, importsOf(file)]));
const rel = (file: string) => path.relative(ROOT, file);

describe('architecture', () => {
  test('the source is read: every server module, and app.ts lists the feature plugins', () => {
    assert.ok(files.length > 100, `read ${files.length} modules`);
    const fromApp = imports.get(APP)!.map((e) => rel(e.to));
    for (const plugin of ['jobs', 'realtime', 'webhooks', 'messaging', 'rooms', 'visits']) {
      assert.ok(fromApp.includes(`src/server/${plugin}/plugin.ts`), `app.ts registers ${plugin}/plugin.ts`);
    }
  });

  test('no server module imports app.ts but the CLI (features take ctxOf and App from context.ts)', () => {
    const importers = files.filter((file) => !APP_IMPORTERS.has(file) && imports.get(file)!.some((e) => e.to === APP));
    assert.deepEqual(importers.map(rel), []);
  });

  test('the cycle finder finds a cycle, and reports its path', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c', 'd']],
      ['c', []],
      ['d', ['b']],
    ]);
    assert.deepEqual(findCycle(graph), ['b', 'd', 'b']);
    assert.equal(findCycle(new Map([['a', ['b']], ['b', []]])), null);
  });

  // Type-only imports are left out: they are erased when compiled, so they cannot make a module load before its
  // dependencies (two modules naming each other's types, such as a feature's deps and its helpers, are fine).
  test('no import cycle among the server modules', () => {
    const graph = new Map(files.map((file) => [file, imports.get(file)!.filter((e) => !e.typeOnly).map((e) => e.to)]));
    const cycle = findCycle(graph);
    assert.equal(cycle, null, `import cycle: ${cycle?.map(rel).join(' -> ')}`);
  });

  test('routes never announce events: publishing (and closing hub connections) is the services’ job, after commit', () => {
    const routes = files.filter((file) => path.basename(file) === 'routes.ts');
    assert.ok(routes.length >= 10, `found ${routes.length} routes.ts files`);
    const offenders = routes.flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => ({ line, at: `${rel(file)}:${i + 1}` }))
        .filter(({ line }) => /\b(?:realtime|hub|events)\s*\.\s*(?:publish|revoke)\s*\(/.test(line))
        .map(({ at, line }) => `${at}: ${line.trim()}`),
    );
    assert.deepEqual(offenders, []);
  });
});
