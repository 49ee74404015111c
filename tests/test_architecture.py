"""The layers of the code (README, "Architecture"), read from the project's imports.

Each module may import only from its own layer's package or from layers below it;
features never import each other; no two modules import each other, directly or round
a circle. Every import counts, at module level or inside a function.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = (
    "portal",
    "clinics",
    "patients",
    "invitations",
    "appointments",
    "messaging",
    "records",
    "fhir_api",
)

# Lowest first. Packages in one entry are siblings: they may not import each other,
# except in the composition layer, which is the project's top and knows everything.
LAYERS = [
    ("kernel", ["portal.core"]),
    ("tenant", ["clinics"]),
    ("infrastructure", ["portal.audit", "portal.notifications"]),
    ("staff", ["portal.staff"]),
    ("records", ["patients"]),
    ("features", ["invitations", "appointments", "messaging", "records"]),
    # The FHIR API calls the features' services; no feature knows it.
    ("api", ["fhir_api"]),
    (
        "composition",
        [
            "portal.site",
            "portal.urls_clinic",
            "portal.urls_platform",
            "portal.settings",
            "portal.celery",
            "portal.wsgi",
            "portal.asgi",
            "portal",
        ],
    ),
]


def package_of(module: str) -> tuple[int, str]:
    """(layer index, package) of a project module: the longest package that contains it."""
    best = None
    for index, (_name, packages) in enumerate(LAYERS):
        for package in packages:
            inside = module == package or module.startswith(package + ".")
            if inside and (best is None or len(package) > len(best[1])):
                best = (index, package)
    if best is None:
        raise LookupError(f"{module} is in no layer: add its package to LAYERS")
    if LAYERS[best[0]][0] == "composition":
        return best[0], "composition"
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules():
    for package in PROJECT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield module_name(path), path


def imports_of(module: str, path: Path) -> set[str]:
    """The project modules ``module`` imports (a ``from x import y`` names ``x.y`` when
    that is a module, else ``x``)."""
    known = {name for name, _ in project_modules()}
    found = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
            names = [n for n in names if n in known][:1] or [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


@pytest.fixture(scope="module")
def graph():
    return {module: imports_of(module, path) for module, path in project_modules()}


def test_every_import_points_down_a_layer_or_stays_in_its_package(graph):
    wrong = []
    for module, imported in graph.items():
        layer, package = package_of(module)
        for target in sorted(imported):
            target_layer, target_package = package_of(target)
            if target_package == package:
                continue
            if target_layer > layer:
                wrong.append(f"{module} imports {target} (a higher layer)")
            elif target_layer == layer:
                wrong.append(f"{module} imports {target} (a sibling in its layer)")
    assert not wrong, "\n".join(wrong)


def test_no_modules_import_each_other_round_a_circle(graph):
    circles, state, stack = [], {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                circles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not circles, "\n".join(circles)


def test_the_reader_sees_imports_up_and_circles(tmp_path, monkeypatch):
    """The checks above must be able to fail: a feature importing the composition layer,
    and two modules importing each other, are seen."""
    graph = {
        "messaging.views": {"portal.site.home", "patients.models"},
        "patients.models": {"patients.grant_cache"},
        "patients.grant_cache": {"patients.models"},
    }
    with pytest.raises(AssertionError, match="messaging.views imports portal.site.home"):
        test_every_import_points_down_a_layer_or_stays_in_its_package(graph)
    with pytest.raises(AssertionError, match="patients.grant_cache -> patients.models"):
        test_no_modules_import_each_other_round_a_circle(graph)
