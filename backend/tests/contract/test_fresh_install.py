"""`make install` on a fresh machine, while the package index holds newer releases than
the locks.

This is how the set-up once broke without a commit: a venv's bundled pip (23.2 on Python
3.11) resolves `coverage[toml]`, which pytest-cov asks for, as a requirement of its own,
finds the newer coverage upstream and refuses it under --require-hashes. Here the newer
release is a wheel the test builds and offers on a local find-links directory, so the
test does not depend on what upstream has published today.
"""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.contract.test_lock_files import ROOT, locked

NEWER_COVERAGE = "99.0.0"


def _newer_release(directory: Path, name: str, version: str) -> Path:
    """A minimal, valid wheel of `name` at `version`, with a `toml` extra like coverage's."""
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nProvides-Extra: toml\n"
        ),
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
        record = "".join(f"{path},,\n" for path in [*files, f"{dist_info}/RECORD"])
        archive.writestr(f"{dist_info}/RECORD", record)
    return wheel


def _installed_version(venv: Path, name: str) -> str:
    return subprocess.run(
        [
            venv / "bin" / "python",
            "-c",
            f"import importlib.metadata as m; print(m.version({name!r}))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


# A cold pip cache downloads every locked wheel.
@pytest.mark.timeout(900)
def test_make_install_in_a_fresh_venv_installs_the_locks_exactly(tmp_path: Path) -> None:
    """The venv starts with the interpreter's bundled pip, as on a fresh machine; `make
    install` succeeds though a newer coverage is on offer, every version is the locked
    one, and `pip check` finds nothing."""
    offered = tmp_path / "newer-releases"
    offered.mkdir()
    _newer_release(offered, "coverage", NEWER_COVERAGE)
    venv = tmp_path / "venv"
    interpreter = Path(sys.base_prefix) / "bin" / "python3"

    install = subprocess.run(
        ["make", "--no-print-directory", "install", f"VENV={venv}", f"PYTHON={interpreter}"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "PIP_FIND_LINKS": str(offered)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert install.returncode == 0, install.stdout + install.stderr
    pins = locked("dev.lock")
    assert _installed_version(venv, "coverage") == str(pins["coverage"])
    assert _installed_version(venv, "pip") == str(locked("installer.lock")["pip"])
    check = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No broken requirements found." in check.stdout
