#!/usr/bin/env python3
"""Checks the module dependencies of oxcd's non-test code (src/, not src/bin).

Reads every `crate::` / `super::` / `self::` path (in `use` lines and inline)
outside `#[cfg(test)]` code, and reports:

1. import circles: at every level of the module tree, the children of one
   module must depend on each other one way only (a module's own submodules
   count as part of it at the level above);
2. layer breaches: arrows point down only, so `api` never imports `storage`,
   `storage` never imports `actors` or `api`, and `actors` never imports `api`.

Exits 1 and lists every finding when there is one; prints a summary either
way. `--graph` prints every edge instead.
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
FORBIDDEN = [("api", "storage"), ("storage", "actors"), ("storage", "api"), ("actors", "api")]


def module_of(path: Path) -> tuple:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def strip_strings(text: str) -> str:
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def strip_test_blocks(text: str) -> str:
    """Removes `#[cfg(test)]` items: a `mod x { ... }` block or one line."""
    out = []
    i = 0
    marker = re.compile(r"#\[cfg\(test\)\]")
    while True:
        m = marker.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i : m.start()])
        j = m.end()
        brace = text.find("{", j)
        semi = text.find(";", j)
        if semi != -1 and (brace == -1 or semi < brace):
            i = semi + 1
            continue
        depth = 0
        k = brace
        while k < len(text):
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        i = k + 1
    return "".join(out)


def test_only_children(text: str) -> set:
    """Submodules declared only under `#[cfg(test)]` (`mod tests;`)."""
    names = set()
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text):
        names.add(m.group(1))
    return names


def load():
    files = [p for p in SRC.rglob("*.rs") if "bin" not in p.relative_to(SRC).parts[:1]]
    modules = {module_of(p): p for p in files}
    test_modules = set()
    for mod, path in modules.items():
        text = strip_comments(path.read_text())
        for child in test_only_children(text):
            test_modules.add(mod + (child,))
    # A test module's own submodules are test code too.
    test_modules = {m for m in modules if any(m[: len(t)] == t for t in test_modules)}
    return {m: p for m, p in modules.items() if m not in test_modules}


PATH = re.compile(r"\b((?:crate|super|self)(?:::(?:\w+|\{[^;]*?\}))+)")


def referenced_modules(mod: tuple, is_dir_module: bool, text: str, known: set) -> set:
    """The known modules a file's paths name (deepest known prefix)."""
    found = set()
    for m in PATH.finditer(text):
        expanded = expand(m.group(1))
        for segments in expanded:
            base = resolve_base(mod, is_dir_module, segments)
            if base is None:
                continue
            target = deepest_known(base, known)
            if target is not None and target != mod:
                found.add(target)
    return found


def expand(path: str) -> list:
    """`crate::a::{b, c::d}` -> [[crate,a,b], [crate,a,c,d]] (one level of braces is enough
    to name modules; deeper groups are flattened to their first segments)."""
    if "{" not in path:
        return [path.split("::")]
    head, _, rest = path.partition("{")
    head = [s for s in head.split("::") if s]
    inner = rest.rsplit("}", 1)[0]
    out = []
    depth = 0
    current = ""
    for ch in inner + ",":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            item = current.strip()
            if item:
                first = item.split("{")[0]
                out.append(head + [s for s in first.split("::") if s and s != "self"])
            current = ""
        else:
            current += ch
    return out or [head]


def resolve_base(mod: tuple, is_dir_module: bool, segments: list):
    segs = list(segments)
    if segs[0] == "crate":
        return tuple(segs[1:])
    here = list(mod)
    while segs and segs[0] in ("super", "self"):
        if segs[0] == "super":
            if not here:
                return None
            here = here[:-1]
        segs = segs[1:]
    return tuple(here + segs)


def deepest_known(path: tuple, known: set):
    for n in range(len(path), 0, -1):
        if path[:n] in known:
            return path[:n]
    return None


def edges():
    modules = load()
    known = set(modules)
    graph = defaultdict(set)
    for mod, path in modules.items():
        text = strip_strings(strip_test_blocks(strip_comments(path.read_text())))
        is_dir = path.name == "mod.rs"
        for target in referenced_modules(mod, is_dir, text, known):
            graph[mod].add(target)
    return known, graph


def cycles(known, graph):
    """Circles among the children of each module."""
    found = []
    parents = {m[:-1] for m in known if m} | {()}
    for parent in sorted(parents):
        depth = len(parent)
        children = {m[: depth + 1] for m in known if len(m) > depth and m[:depth] == parent}
        if len(children) < 2:
            continue
        small = defaultdict(set)
        for src, targets in graph.items():
            if len(src) <= depth or src[:depth] != parent:
                continue
            for dst in targets:
                if len(dst) <= depth or dst[:depth] != parent:
                    continue
                a, b = src[: depth + 1], dst[: depth + 1]
                if a != b:
                    small[a].add(b)
        for scc in strongly_connected(children, small):
            if len(scc) > 1:
                found.append((parent, sorted(scc), small))
    return found


def strongly_connected(nodes, graph):
    index = {}
    low = {}
    stack = []
    on_stack = set()
    result = []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            result.append(scc)

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return result


def name(mod: tuple) -> str:
    return "::".join(mod) or "crate"


def main() -> int:
    known, graph = edges()
    if "--graph" in sys.argv:
        for src in sorted(graph):
            for dst in sorted(graph[src]):
                print(f"{name(src)} -> {name(dst)}")
        return 0
    problems = []
    for parent, scc, small in cycles(known, graph):
        members = set(scc)
        arrows = [
            f"{name(a)} -> {name(b)}" for a in scc for b in sorted(small[a]) if b in members
        ]
        problems.append(f"import circle under {name(parent)}: " + "; ".join(arrows))
    for src in sorted(graph):
        for dst in sorted(graph[src]):
            if src and dst and (src[0], dst[0]) in FORBIDDEN:
                problems.append(f"layer breach: {name(src)} -> {name(dst)}")
    edge_count = sum(len(t) for t in graph.values())
    print(f"check-layers: {len(known)} modules, {edge_count} dependencies")
    for p in problems:
        print("  " + p)
    if problems:
        print(f"check-layers: {len(problems)} problem(s)")
        return 1
    print("check-layers: no import circles, arrows point down only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
