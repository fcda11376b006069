"""The emulated site stands apart from the scanner, and ships with it (issue 11).

The scanner never imports ``camscan.lab`` (only the ``demo`` command does, when it runs); the wheel carries
every file of the package; ``camscan demo`` works from a wheel installed in a fresh virtual environment, run
from a directory outside the checkout, with no PYTHONPATH.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from camscan.lab import LabUnavailable, load_site_spec
from camscan.lab.netns import check_available

PACKAGE = Path(__file__).resolve().parents[2] / "camscan"
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
             "LANG": "C.UTF-8"}


def _loaded_lab_modules(code: str) -> list[str]:
    probe = (f"import json, sys\n{code}\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('camscan.lab'))))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_importing_the_scanner_loads_nothing_of_the_lab():
    assert _loaded_lab_modules("import camscan.cli, camscan.scan") == []


def test_loading_every_scanner_module_loads_nothing_of_the_lab():
    # what the privileged parent imports before it drops privileges (camscan.privsep.prepare)
    code = ("from camscan import privsep\nprivsep.import_scanner_modules()\n"
            "assert 'camscan.recorders.collect' in sys.modules and 'camscan.probe.onvif' in sys.modules")
    assert _loaded_lab_modules(code) == []


def test_importing_main_runs_nothing():
    proc = subprocess.run([sys.executable, "-c", "import camscan.__main__"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_parsing_every_command_line_loads_nothing_of_the_lab():
    # `camscan demo --help` builds the parser and exits: the lab is imported only when the demo runs
    assert _loaded_lab_modules("from camscan import cli\ntry:\n    cli.main(['demo', '--help'])\n"
                               "except SystemExit:\n    pass") == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the package (the build leaves nothing in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    root = PACKAGE.parent
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, src / name)
    shutil.copytree(PACKAGE, src / "camscan", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot build a wheel here (pip wheel: {proc.stderr.strip()[-300:]})")
    (whl,) = out.glob("camscan-*.whl")
    return whl


def test_the_wheel_carries_every_file_of_the_package(wheel):
    in_tree = {p.relative_to(PACKAGE.parent).as_posix() for p in PACKAGE.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    with zipfile.ZipFile(wheel) as z:
        in_wheel = {n for n in z.namelist() if n.startswith("camscan/")}
    assert in_tree - in_wheel == set(), "declare these in [tool.setuptools.package-data]"


@pytest.mark.netns
def test_demo_runs_from_an_installed_wheel_outside_the_checkout(wheel, tmp_path):
    try:
        check_available()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    # The dependencies come from this test's environment, added as a plain path: a path line in a .pth file
    # does not run the .pth files of that directory, so this environment's editable camscan stays out.
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    (site / "zz-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run([str(py), "-c", "import camscan; print(camscan.__file__)"], cwd=tmp_path,
                           env=CLEAN_ENV, capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert Path(where).is_relative_to(venv), where

    proc = subprocess.run([str(venv / "bin" / "camscan"), "demo", "--format", "json"], cwd=tmp_path,
                          env=CLEAN_ENV, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 1, proc.stderr  # the demo site has sanctioned devices
    doc = json.loads(proc.stdout)
    expected = {d.ip for d in load_site_spec("demo").devices}
    assert {d["ip"] for d in doc["devices"] if not d.get("via")} == expected
    assert [d for d in doc["devices"] if d.get("via")]  # the cameras behind the demo's NVR (site credentials)
    assert doc["summary"]["sanctioned"] > 0
