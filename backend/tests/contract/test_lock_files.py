"""The lock files agree with pyproject.toml, and the installer is one of them.

`make lock` writes requirements/*.lock from pyproject.toml. These tests fail when the two
disagree (a dependency added, removed or re-ranged in pyproject.toml without re-locking,
or a lock edited by hand), without asking any package index: what each locked package
requires is read from its installed metadata, since `make install` installs dev.lock.
"""

import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
REQUIREMENTS = ROOT / "requirements"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$", re.MULTILINE)


def locked(lock: str) -> dict[str, Version]:
    """Package name -> pinned version, for every package in a lock file."""
    text = (REQUIREMENTS / lock).read_text()
    return {canonicalize_name(name): Version(version) for name, version in _PIN.findall(text)}


def _requirement_lines(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    if requirement.marker is None:
        return True
    environment = default_environment()
    return any(
        requirement.marker.evaluate({**environment, "extra": extra}) for extra in ("", *extras)
    )


def closure(roots: Iterable[Requirement]) -> dict[str, Requirement]:
    """Every distribution that `roots` need, following each installed distribution's own
    requirements (with the extras asked of it), markers evaluated for this interpreter."""
    needed: dict[str, Requirement] = {}
    extras_asked: dict[str, set[str]] = {}
    pending = [requirement for requirement in roots if _applies(requirement, ())]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        new_extras = set(requirement.extras) - extras_asked.get(name, set())
        if name in needed and not new_extras:
            continue
        needed.setdefault(name, requirement)
        extras_asked.setdefault(name, set()).update(requirement.extras)
        for line in importlib.metadata.requires(requirement.name) or ():
            child = Requirement(line)
            if _applies(child, extras_asked[name]):
                pending.append(child)
    return needed


def _source_requirements(name: str) -> list[Requirement]:
    return [Requirement(line) for line in _requirement_lines(REQUIREMENTS / name)]


def _project_requirements(*extras: str) -> list[Requirement]:
    lines = list(PROJECT["dependencies"])
    for extra in extras:
        lines += PROJECT["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize(
    ("lock", "roots"),
    [
        ("runtime.lock", _project_requirements()),
        (
            "dev.lock",
            _project_requirements("dev") + _source_requirements("build.in"),
        ),
        (
            "build.lock",
            _source_requirements("build.in"),
        ),
        (
            "installer.lock",
            _source_requirements("installer.in"),
        ),
    ],
)
def test_each_lock_holds_exactly_what_its_sources_require(
    lock: str, roots: list[Requirement]
) -> None:
    """Nothing required is missing from the lock, nothing in it is unrequired, and every
    requirement (pyproject's ranges and the packages' own) admits the locked version."""
    pins = locked(lock)
    needed = closure(roots)

    assert set(needed) - set(pins) == set(), f"required but not in {lock}: run `make lock`"
    assert set(pins) - set(needed) == set(), f"in {lock} but required by nothing: `make lock`"
    for root in roots:
        name = canonicalize_name(root.name)
        assert root.specifier.contains(pins[name], prereleases=True), (lock, str(root))


def test_every_lock_pins_each_package_to_one_version_with_hashes() -> None:
    """`pip install --require-hashes` accepts only this; a line without `==` or a hash would
    let the installer pick a version of its own."""
    for lock in sorted(REQUIREMENTS.glob("*.lock")):
        entries = re.split(r"\n(?=\S)", lock.read_text().strip())
        for entry in entries:
            if entry.startswith("#"):
                continue
            assert _PIN.match(entry), f"{lock.name}: not pinned with ==: {entry.splitlines()[0]}"
            assert "--hash=sha256:" in entry, f"{lock.name}: no hash: {entry.splitlines()[0]}"


def test_the_venv_runs_the_locked_pip_not_the_one_the_interpreter_bundles() -> None:
    """`make install` replaces the bundled pip before it installs anything else."""
    assert importlib.metadata.version("pip") == str(locked("installer.lock")["pip"])
    assert sys.prefix != sys.base_prefix, "the tests run inside the project's venv"


def test_the_dev_lock_installs_the_same_versions_as_the_runtime_and_build_locks() -> None:
    """What the tests run is what the image runs, and what the package is built with."""
    dev = locked("dev.lock")
    for lock in ("runtime.lock", "build.lock"):
        for name, version in locked(lock).items():
            assert dev[name] == version, (lock, name)
