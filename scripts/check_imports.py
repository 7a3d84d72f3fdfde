#!/usr/bin/env python3
"""Fails if a crate's modules import each other in a circle.

Usage: scripts/check_imports.py CRATE_SRC_DIR [...]   (e.g. core/src server/src)

Every `.rs` file is a module node; an edge A -> B is any path in A's code
(`use` or inline) that resolves into B: `crate::a::b::Item`, `super::x`,
`self::x`, and names that the crate root or a `mod.rs` re-exports
(`pub use a::Item;` makes `crate::Item` point at `a`). A parent module that only
declares a child (`mod x;`) does not depend on it. Test modules (`#[cfg(test)]`
blocks at the end of a file) are ignored: tests may use anything. Prints each
cycle found and exits 1; prints the number of modules and edges and exits 0
otherwise.
"""
import os
import re
import sys

PATH_RE = re.compile(r'\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)')
USE_GROUP_RE = re.compile(r'\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};', re.S)
REEXPORT_RE = re.compile(r'pub(?:\([a-z]+\))?\s+use\s+([a-z_][a-z0-9_]*)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::(\{[^;]*\}|[A-Za-z_][A-Za-z0-9_]*)\s*;', re.S)


def strip_tests_and_comments(text):
    text = re.sub(r'//[^\n]*', '', text)
    m = re.search(r'#\[cfg\((all\()?test', text)
    return text[:m.start()] if m else text


def module_files(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'):
                continue
            full = os.path.join(root, f)
            rel = os.path.relpath(full, src)[:-3].split(os.sep)
            if rel[-1] == 'mod':
                rel = rel[:-1]
            if rel in (['lib'], ['main']):
                rel = []
            mods[tuple(rel)] = full
    return mods


def resolve(mods, base, segs):
    """The longest module path that `base + segs` starts with."""
    path = list(base) + list(segs)
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in mods:
            return tuple(path[:n]), path[n:]
    return None, path


def analyse(src):
    mods = module_files(src)
    texts = {m: strip_tests_and_comments(open(f, encoding='utf-8').read()) for m, f in mods.items()}
    # name re-exported by module M -> the module it comes from
    reexports = {}
    for m, t in texts.items():
        for first, rest, names in REEXPORT_RE.findall(t):
            target, _ = resolve(mods, m, [first] + [s for s in rest.split('::') if s])
            if target is None:
                continue
            for n in re.findall(r'[A-Za-z_][A-Za-z0-9_]*', names):
                reexports[(m, n)] = target
    edges = {m: set() for m in mods}
    for m, t in texts.items():
        paths = [(a, b) for a, b in PATH_RE.findall(t)]
        for root, rest, group in USE_GROUP_RE.findall(t):
            for item in re.split(r',', group):
                item = item.strip().split(' as ')[0].strip()
                if item and item != 'self':
                    paths.append((root, rest + '::' + item.replace(' ', '')))
        # Relative paths into child modules: `child::Item` or `use child::{..}`
        # in a parent.
        for first, rest in re.findall(r'(?<![A-Za-z0-9_:])([a-z_][a-z0-9_]*)((?:::[A-Za-z_][A-Za-z0-9_]*)*::[{A-Za-z_])', t):
            rest = rest.rstrip('{').rstrip(':')
            if first not in ('crate', 'super', 'self', 'std', 'core') and tuple(m) + (first,) in mods:
                paths.append(('self', '::' + first + rest))
        for root, rest in paths:
            segs = [s for s in rest.split('::') if s]
            if root == 'crate':
                base = ()
            elif root == 'super':
                base = m[:-1]
            else:
                base = m
            target, left = resolve(mods, base, segs)
            if target is None:
                continue
            # `crate::Item` re-exported by the root (or a mod.rs) points at its source.
            while left and (target, left[0]) in reexports:
                target = reexports[(target, left[0])]
                left = left[1:]
            if target != m and not (len(target) < len(m) and m[:len(target)] == target and not left):
                edges[m].add(target)
    # A parent importing only to declare children is not an edge (handled: `mod x;`
    # is not a path). Drop edges into the crate root (it only re-exports).
    for m in edges:
        edges[m].discard(())
    return mods, edges


def cycles(edges):
    found, stack, state = [], [], {}

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(edges.get(n, ())):
            if state.get(d) == 1:
                found.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    return found


def name(m):
    return '::'.join(m) or 'crate'


def main():
    bad = False
    for src in sys.argv[1:] or ['core/src', 'server/src']:
        mods, edges = analyse(src)
        cs = cycles(edges)
        n_edges = sum(len(v) for v in edges.values())
        if cs:
            bad = True
            for c in cs:
                print(f'{src}: import circle: ' + ' -> '.join(name(x) for x in c))
        else:
            print(f'{src}: {len(mods)} modules, {n_edges} imports, no circle')
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
