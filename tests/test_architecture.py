"""The engine and the simulator never import the UI (DESIGN.md section 1)."""

import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

ENGINE_MODULES = [
    "birdterm.engine.clock",
    "birdterm.engine.events",
    "birdterm.engine.types",
    "birdterm.engine.order_book",
    "birdterm.engine.config",
    "birdterm.engine.bot_config",
    "birdterm.engine.store",
    "birdterm.engine.engine",
    "birdterm.sim",
]


def test_importing_the_engine_loads_no_textual():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in ENGINE_MODULES)
        + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_linter_contract_holds():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout
