"""The shape of the code: the domain package knows nothing of Rasa or the web, and its
imports run one way (no module, and no sub-package, imports one that imports it back)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "buzon"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def domain_modules() -> dict[str, Path]:
    return {module_name(p): p for p in DOMAIN.rglob("*.py")}


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The domain modules ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name.startswith("buzon."):
                found.add(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_domain_package_imports_neither_rasa_nor_a_web_framework():
    for path in DOMAIN.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for name in names:
                    assert name.split(".")[0] not in {
                        "rasa",
                        "rasa_sdk",
                        "sanic",
                        "actions",
                        "channels",
                        "persistence",
                    }, (path, name)


def test_module_imports_run_one_way():
    known = domain_modules()
    graph = {name: imports_of(path, known) - {name} for name, path in known.items()}
    assert cycles(graph) == []


def test_sub_package_imports_run_one_way():
    known = domain_modules()

    def unit(name: str) -> str:  # buzon.cases.store -> buzon.cases; buzon.outbox stays
        parts = name.split(".")
        return ".".join(parts[:2])

    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        graph.setdefault(unit(name), set()).update(
            unit(other) for other in imports_of(path, known) if unit(other) != unit(name)
        )
    graph.pop("buzon", None)  # the package's own __init__ imports nothing
    assert cycles({k: v - {"buzon"} for k, v in graph.items()}) == []


def test_the_checks_would_see_a_cycle():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


# --- no citizen-facing Spanish in Python ------------------------------------------------------

CODE_FOLDERS = (
    "buzon",
    "actions",
    "channels",
    "persistence",
    "nlu_components",
    "scripts",
    "console",
)
SPANISH_MARKS = re.compile(r"[áéíóúñÁÉÍÓÚÑ¿¡]")
SPANISH_WORDS = {  # function words and the words of a chat UI
    "de",
    "la",
    "el",
    "que",
    "su",
    "los",
    "las",
    "por",
    "para",
    "con",
    "una",
    "es",
    "del",
    "al",
    "usted",
    "favor",
    "gracias",
    "hola",
    "ninguna",
    "ninguno",
    "archivo",
    "archivos",
    "ver",
    "opciones",
    "caso",
    "estado",
    "escriba",
    "elija",
    "listo",
    "correo",
    "disculpe",
    "intente",
}
# Strings that are Spanish on purpose: patterns that read what citizens write, and
# the accepted spellings of a yes in an environment variable.
ALLOWED = (re.compile(r"^\^\(\?:\(\?:en\|de\|del\|prov"), re.compile(r"^sí$"))


def _docstring_ids(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def looks_spanish(text: str) -> bool:
    """Accents or ¿¡, or a Spanish function or UI word among several words."""
    words = re.findall(r"[a-záéíóúñ]+", text.lower())
    return (
        bool(SPANISH_MARKS.search(text))
        or (len(words) >= 2 and any(w in SPANISH_WORDS for w in words))
        or (len(words) == 1 and words[0] in {"ninguna", "archivo", "archivos", "opciones"})
    )


def spanish_literals() -> list[str]:
    found = []
    for folder in CODE_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            docstrings = _docstring_ids(tree)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in docstrings
                    and looks_spanish(node.value)
                    and not any(p.search(node.value) for p in ALLOWED)
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    return found


def test_citizen_facing_words_live_in_responses_or_messages_files():
    assert spanish_literals() == [], (
        "Spanish text in Python: put it in domain.yml (responses) or buzon/data/messages.yml"
    )


def test_the_finder_finds_spanish():
    assert looks_spanish("Ver opciones") and looks_spanish("Registrado, pendiente de análisis")
    assert looks_spanish("ninguna") and not looks_spanish("evidence_not_now")
    assert not looks_spanish("case %s registered")
