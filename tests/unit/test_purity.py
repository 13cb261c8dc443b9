"""evidence/ is the pure domain: no framework, no outer layer."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

FORBIDDEN = {
    "prefect",
    "minio",
    "sqlalchemy",
    "alembic",
    "fastapi",
    "typer",
    "rich",
    "storage",
    "flows",
    "config",
    "app",
}
EVIDENCE = Path(__file__).resolve().parents[2] / "evidence"


def test_evidence_imports_no_framework_or_outer_layer() -> None:
    offenders = []
    for path in EVIDENCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_the_whole_domain_loads_no_framework() -> None:
    modules = sorted(p.stem for p in EVIDENCE.glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import evidence.{m}\n" for m in modules)
        + f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_domain_errors_name_no_command_line_option() -> None:
    """The domain says what is wrong and which input it is about; the CLI and
    the web word the fix in their own terms (``--reason`` is the CLI's)."""
    flag = re.compile(r"(^|[\s(`'\"])--[a-z]")
    offenders = []
    for path in EVIDENCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for part in ast.walk(node.exc):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        if flag.search(part.value):
                            offenders.append(f"{path.relative_to(EVIDENCE)}:{part.lineno}")
    assert offenders == []
