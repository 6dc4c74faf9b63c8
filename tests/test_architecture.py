"""core/ must never import streamlit, and importing core must have no side effects."""
import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"


def test_core_never_imports_streamlit():
    offenders = []
    for py in CORE.rglob("*.py"):
        tree = ast.parse(py.read_text(), filename=str(py))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                offenders.append(str(py.relative_to(CORE.parent)))
    assert offenders == []


def test_light_modules_do_not_import_tensorflow():
    code = (
        "import sys, core, core.config, core.validation, core.registry, core.datasets.base, core.datasets, core.models,"
        " core.data.preprocess, core.data.pipeline;"
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=CORE.parent, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _module_name(py: Path) -> str:
    parts = list(py.relative_to(CORE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, module: str, is_package: bool, modules: set[str]) -> list[str]:
    """Modules of core/ that one import statement (anywhere in the file) imports."""
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolved against the importing module's package
            package = module.split(".") if is_package else module.split(".")[:-1]
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        # ``from pkg import name``: name is a submodule of pkg, or an attribute of pkg itself
        targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    else:
        return []
    out = []
    for t in targets:
        while t and t not in modules:  # ``import core.models.zoo.x`` -> the deepest module that exists
            t = t.rpartition(".")[0]
        if t:
            out.append(t)
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of import nodes under ``if TYPE_CHECKING:`` (never executed)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    return skip


def core_import_graph() -> dict[str, set[str]]:
    """module -> core modules it imports, at module level or inside functions (relative imports
    resolved). A package's ``__init__`` is the package's module; importing ``a.b`` is an edge to
    ``a.b`` only (the implicit import of the parent package ``a`` is not counted)."""
    files = {_module_name(py): py for py in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, py in files.items():
        tree = ast.parse(py.read_text(), filename=str(py))
        skip = _type_checking_only(tree)
        edges = set()
        for node in ast.walk(tree):
            if id(node) not in skip:
                edges.update(_imported(node, module, py.name == "__init__.py", set(files)))
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as one cycle path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
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
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(_cycle_path(graph, set(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def _cycle_path(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """One cycle through the component's first module: a -> b -> ... -> a (breadth-first)."""
    start = min(comp)
    prev: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & comp):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return path[::-1] + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return sorted(comp)


def test_no_import_cycles_inside_core():
    graph = core_import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import cycles inside core/ (function-level imports included):\n" + "\n".join(
        f"{' -> '.join(c)}   (modules in this cycle group: {', '.join(sorted(_group(graph, c[0])))})" for c in cycles
    )


def _group(graph: dict[str, set[str]], start: str) -> set[str]:
    """The modules that both reach ``start`` and are reached from it (its strongly connected component)."""
    def reach(edges, v):
        seen, todo = {v}, [v]
        while todo:
            for w in edges.get(todo.pop(), ()):
                if w not in seen:
                    seen.add(w)
                    todo.append(w)
        return seen

    reverse: dict[str, set[str]] = {}
    for v, ws in graph.items():
        for w in ws:
            reverse.setdefault(w, set()).add(v)
    return reach(graph, start) & reach(reverse, start)


def test_find_cycles_reports_each_cycle_as_a_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


# ----------------------------------------------------------------------------- layers
# The package diagram of docs/ARCHITECTURE.md ("The floor plan"): each package of core/ and what it may
# import. A package always may import itself and the base modules. Entry points (``python -m core``,
# ``python -m core.worker``) sit above everything.
BASE = {"core", "core.config", "core.validation", "core.registry", "core.files", "core.text"}
# The run folder's layout (file names and kinds, atomic reads and writes; no database) is the vocabulary
# every layer shares: any package may import it.
SHARED = {"core.store.artifacts"}
ENTRY_POINTS = {"core.__main__", "core.worker"}
ALLOWED = {
    "store": set(),
    "auth": {"store"},
    "models": set(),
    "data": {"models"},
    "datasets": {"data"},
    "metrics": {"data"},
    "training": {"store", "auth", "models", "data", "datasets", "metrics"},
    "serving": {"store", "auth", "models", "data", "datasets", "metrics"},
    "analysis": {"store", "auth", "models", "data", "datasets", "metrics", "training", "serving"},
    "recipes": {"store", "auth", "models", "data", "datasets", "metrics", "training", "serving", "analysis"},
    "jobs": {"store", "auth", "models", "data", "datasets", "metrics", "training", "serving", "analysis", "recipes"},
    "cli": {"store", "auth", "models", "data", "datasets", "metrics", "training", "serving", "analysis", "recipes", "jobs"},
}


def _package(module: str) -> str:
    if module in BASE:
        return "base"
    if module in ENTRY_POINTS:
        return "entry"
    return module.split(".")[1]


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, imported in sorted(graph.items()):
        pa = _package(module)
        for target in sorted(imported):
            pb = _package(target)
            if pa == pb or pb == "base" or pa == "entry" or target in SHARED:
                continue
            if pa == "base" or pb not in ALLOWED.get(pa, set()):
                out.append(f"{module} ({pa}) imports {target} ({pb})")
    return out


def test_every_core_package_is_in_the_diagram():
    packages = {_package(m) for m in core_import_graph()} - {"base", "entry"}
    assert packages == set(ALLOWED)


def test_each_package_imports_only_the_packages_below_it():
    violations = layer_violations(core_import_graph())
    assert not violations, "imports against docs/ARCHITECTURE.md's diagram:\n" + "\n".join(violations)


def test_the_diagram_has_no_cycle():
    assert find_cycles({p: set(deps) for p, deps in ALLOWED.items()}) == []


def test_layer_check_reports_an_upward_import():
    graph = {"core.data.images": {"core.training.engine", "core.validation"}, "core.training.engine": {"core.data.images"}}
    assert layer_violations(graph) == ["core.data.images (data) imports core.training.engine (training)"]


# ----------------------------------------------------------------------------- pages
PAGES = CORE.parent / "pages"


def pages_import_graph() -> dict[str, set[str]]:
    """pages module -> pages modules it imports (app.py included as ``app``)."""
    files = {f"pages.{py.stem}": py for py in PAGES.glob("*.py")}
    files["app"] = CORE.parent / "app.py"
    graph: dict[str, set[str]] = {}
    for module, py in files.items():
        tree = ast.parse(py.read_text(), filename=str(py))
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__" and node.args:
                names = [ast.unparse(node.args[0]).strip("'\"")]
            else:
                continue
            edges.update(n for n in names if n in files)
        edges.discard(module)
        graph[module] = edges
    return graph


def test_no_import_cycles_among_the_pages():
    cycles = find_cycles(pages_import_graph())
    assert not cycles, "import cycles among pages/ and app.py:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_core_never_imports_pages_or_app():
    offenders = []
    for py in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text(), filename=str(py))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "app" or n == "pages" or n.startswith("pages.") for n in names):
                offenders.append(str(py.relative_to(CORE.parent)))
    assert offenders == []
