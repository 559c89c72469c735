"""The package's import graph: no circle, and nothing found by a string (issue 16).

Every `import` in scratchdream/ counts, including those inside functions: a lazy import hides an edge
from the reader, it does not remove it. An edge goes to the module named; `from pkg import name` goes
to pkg.name when that is a module, else to pkg itself (its __init__). A package's __init__ runs before
any of its modules, but that implied edge is left out: it would join every module to its parents.

Run as a script to print the graph and any circle: python tests/test_imports.py
"""

import ast
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "scratchdream"


def module_files(root=REPO, package=PACKAGE):
    """{dotted module name: path} for every .py file of the package."""
    out = {}
    for folder, _, files in os.walk(os.path.join(root, package)):
        for f in sorted(files):
            if f.endswith(".py"):
                parts = os.path.relpath(os.path.join(folder, f), root)[: -len(".py")].split(os.sep)
                out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = os.path.join(folder, f)
    return out


def _is_package(path):
    return os.path.basename(path) == "__init__.py"


def imported_modules(name, path, modules):
    """The package's modules that `name` (at `path`) imports, anywhere in the file."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    here = name if _is_package(path) else name.rpartition(".")[0]  # what `from .` means in this file
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return {m for m in found if m in modules and m != name}


def import_graph(root=REPO):
    modules = module_files(root)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycles(graph):
    """Every strongly connected set of two or more modules (Tarjan), each as a sorted list."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def string_dispatch(root=REPO):
    """(file:line, what) for each place that finds code by a string: importlib, __import__, or a getattr
    whose attribute name is computed (a literal name, e.g. getattr(args, "force", False), is fine; so is
    hasattr, which only asks)."""
    sites = []
    for path in module_files(root).values():
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        rel = os.path.relpath(path, root)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if "importlib" in {m.split(".")[0] for m in mods}:
                    sites.append((f"{rel}:{node.lineno}", "imports importlib"))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                args = node.args
                if node.func.id == "__import__":
                    sites.append((f"{rel}:{node.lineno}", "__import__"))
                elif node.func.id == "getattr" and len(args) >= 2 and not isinstance(args[1], ast.Constant):
                    sites.append((f"{rel}:{node.lineno}", "getattr with a computed name"))
    return sites


def test_the_import_graph_has_no_circle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import circles in scratchdream/: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_code_is_found_by_a_string():
    sites = string_dispatch()
    assert not sites, "code found by strings: " + "; ".join(f"{where} ({what})" for where, what in sites)


def test_the_package_never_imports_torch():
    """torch is the tests' and benchmarks/' oracle only: the package runs on NumPy and Numba alone."""
    users = []
    for path in module_files().values():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            if "torch" in {n.split(".")[0] for n in names}:
                users.append(f"{os.path.relpath(path, REPO)}:{node.lineno}")
    assert not users, f"scratchdream/ imports torch at {', '.join(users)}"


def test_the_graph_sees_imports_inside_functions_and_relative_ones(tmp_path):
    """The checker itself, on a made-up package with one circle hidden in a function and one dispatch."""
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n    return a\n")
    (pkg / "c.py").write_text("import importlib\nx = getattr(importlib, 'import_' + 'module')\n")
    graph = import_graph(str(tmp_path))
    assert graph["scratchdream.a"] == {"scratchdream.sub.b"}
    assert graph["scratchdream.sub.b"] == {"scratchdream.a"}
    assert find_cycles(graph) == [["scratchdream.a", "scratchdream.sub.b"]]
    assert [what for _, what in string_dispatch(str(tmp_path))] == [
        "imports importlib",
        "getattr with a computed name",
    ]


if __name__ == "__main__":
    g = import_graph()
    for mod in sorted(g):
        print(f"{mod} -> {', '.join(sorted(g[mod])) or '-'}")
    print("cycles:", find_cycles(g) or "none")
    print("string dispatch:", string_dispatch() or "none")
    sys.exit(1 if find_cycles(g) or string_dispatch() else 0)
