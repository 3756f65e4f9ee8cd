#!/usr/bin/env python3
"""Import circles between the source files of each crate of the workspace.

For every crate (a folder with a Cargo.toml and a src/ folder), each file under
src/ is a module: src/lib.rs the crate root, src/a.rs or src/a/mod.rs module
`a`, src/a/b.rs module `a::b`. A file depends on another when it names an item
of it: `use crate::a::b::Item`, `use super::Item`, `use self::child::Item`,
`use child::Item` for a child module, or such a path written out in code
(`crate::a::f()`, `super::g()`, `child::h()`). A path names the file of its
longest module prefix; an item that file only re-exports (`pub use x::Item`,
`pub use x::*`) is followed to the file that defines it. `mod child;` and the
re-exports themselves are not dependencies: a parent that only declares and
re-exports its children does not depend on them.

Prints every circle (a strongly connected group of two or more files, with
one closed path through it) and exits with status 1 when there is one, else
prints nothing and exits with 0.

    scripts/import_cycles.py [ROOT]     ROOT: the workspace (default: this script's ..)
"""

import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
ITEM_DEF = r"\b(?:fn|struct|enum|trait|type|const|static|union|mod|macro_rules!)\s+{name}\b"


def strip_comments_and_strings(text):
    """The source with comments, string and char literals blanked (lines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            j = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", text[i:i + 12]):
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", text[i:i + 12])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d, e as f}, self}` -> [[a, b], [a, c, d], [a, c, e], [a]]."""
    tree = re.sub(r"\s+as\s+" + IDENT, "", tree)
    return _expand(re.sub(r"\s+", "", tree), [])


def _expand(tree, prefix):
    brace = tree.find("{")
    if brace < 0:
        segs = [s for s in tree.split("::") if s]
        if segs and segs[-1] == "self":
            segs = segs[:-1]
        return [prefix + segs] if prefix + segs else []
    head = [s for s in tree[:brace].split("::") if s]
    body = tree[brace + 1:tree.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        if p.strip():
            out.extend(_expand(p, prefix + head))
    return out


class Crate:
    def __init__(self, root):
        self.root = root
        self.files = {}  # module path (tuple) -> file
        src = os.path.join(root, "src")
        lib = os.path.join(src, "lib.rs")
        top = lib if os.path.exists(lib) else os.path.join(src, "main.rs")
        if not os.path.exists(top):
            return
        self._walk(top, ())
        self.text = {f: strip_comments_and_strings(open(f, encoding="utf-8").read()) for f in self.files.values()}
        self.module_of = {f: m for m, f in self.files.items()}

    def _walk(self, path, module):
        self.files[module] = path
        text = strip_comments_and_strings(open(path, encoding="utf-8").read())
        base = os.path.dirname(path) if os.path.basename(path) in ("lib.rs", "main.rs", "mod.rs") else path[:-3]
        for name in re.findall(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", text):
            for cand in (os.path.join(base, name + ".rs"), os.path.join(base, name, "mod.rs")):
                if os.path.exists(cand):
                    self._walk(cand, module + (name,))
                    break

    def children(self, module):
        return {m[-1] for m in self.files if len(m) == len(module) + 1 and m[:-1] == module}

    def absolute(self, module, segs):
        """The absolute path of `segs` written in `module`, or None for another crate's."""
        if not segs:
            return None
        if segs[0] == "crate":
            return list(segs[1:])
        cur, i = list(module), 0
        while i < len(segs) and segs[i] in ("self", "super"):
            if segs[i] == "super":
                if not cur:
                    return None
                cur.pop()
            i += 1
        if i > 0:
            return cur + list(segs[i:])
        if segs[0] in self.children(module):
            return list(module) + list(segs)
        return None

    def defines(self, f, name):
        return re.search(ITEM_DEF.format(name=re.escape(name)), self.text[f]) is not None

    def reexports(self, f):
        """(absolute path, name or '*') of each `pub use` in file `f`."""
        out = []
        for tree in re.findall(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", self.text[f]):
            for segs in expand_use(tree):
                ab = self.absolute(self.module_of[f], segs)
                if ab is not None:
                    out.append(ab)
        return out

    def resolve(self, path, depth=0):
        """The file that defines what the absolute `path` names."""
        k = len(path)
        while k >= 0 and tuple(path[:k]) not in self.files:
            k -= 1
        if k < 0:
            return None
        f = self.files[tuple(path[:k])]
        rest = path[k:]
        if not rest or depth > 8 or self.defines(f, rest[0]):
            return f
        for ab in self.reexports(f):
            if ab and ab[-1] == rest[0]:
                return self.resolve(ab + rest[1:], depth + 1) or f
            if ab and ab[-1] == "*":
                target = self.resolve(ab[:-1], depth + 1)
                if target and self.defines(target, rest[0]):
                    return target
        return f

    def edges(self):
        graph = {f: set() for f in self.files.values()}
        for module, f in self.files.items():
            text = self.text[f]
            inline = inline_modules(text)
            paths = []
            # `use` trees, except re-exports (`pub use`).
            for m in re.finditer(r"(\bpub(?:\([^)]*\))?\s+)?\buse\s+([^;]+);", text):
                if m.group(1) is None:
                    paths.extend((m.start(), segs) for segs in expand_use(m.group(2)))
            # Paths written out in code.
            code = re.sub(r"\buse\s+[^;]+;", lambda m: " " * len(m.group(0)), text)
            for m in re.finditer(r"(?<![A-Za-z0-9_:])((?:" + IDENT + r"::)+" + IDENT + r")", code):
                paths.append((m.start(), m.group(1).split("::")))
            for at, segs in paths:
                # Inside `mod tests { .. }`, `super` is this file's module.
                inner = tuple(name for (name, a, b) in inline if a <= at < b)
                ab = self.absolute(module + inner, segs)
                if ab is None:
                    continue
                target = self.resolve(ab)
                if target and target != f:
                    graph[f].add(target)
        return graph


def inline_modules(text):
    """(name, start, end) of each `mod name { .. }` written inside a file, outermost first."""
    out = []
    for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*\{", text):
        depth, j = 0, m.end() - 1
        while j < len(text):
            depth += text[j] == "{"
            depth -= text[j] == "}"
            if depth == 0:
                break
            j += 1
        out.append((m.group(1), m.end(), j))
    return out


def cycles(graph):
    """Strongly connected groups of two or more nodes (Tarjan)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def closed_path(graph, group):
    """One closed path through `group`, from its first file back to it."""
    start, members = group[0], set(group)
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return group


def crates(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("target", ".git") and not d.startswith("."))
        if "Cargo.toml" in filenames and os.path.isdir(os.path.join(dirpath, "src")):
            yield dirpath


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    found = 0
    for c in crates(root):
        crate = Crate(c)
        if not crate.files:
            continue
        graph = crate.edges()
        for group in cycles(graph):
            found += 1
            rel = lambda f: os.path.relpath(f, root)
            print(f"import circle in {rel(c) if c != root else '.'}: " + " -> ".join(rel(f) for f in closed_path(graph, group)))
            if len(group) > 2:
                print("  all files of the circle: " + ", ".join(rel(f) for f in group))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
