"""/update: bring birdterm up to date, from its git checkout or from the package index.

From a git checkout (the tree the running birdterm package lives in): the tree must be clean
(what `git status --porcelain` lists; ignored files such as .venv do not count), on a branch
with an upstream. Then `git fetch`, fast-forward only, and reinstall (`pip install -e .[dev]`,
as `make install` does, which rebuilds the Cython extensions); the user restarts afterwards.
Installed from a package: `pip install --upgrade birdterm`.

Every refusal (offline, dirty tree, diverged branch, detached HEAD, no upstream) is one line
and leaves the checkout as it was. git and pip run as asyncio subprocesses with timeouts, so
the UI (or the headless runner) keeps going while they work.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

GIT_TIMEOUT = 30.0  # local git commands
FETCH_TIMEOUT = 120.0  # talking to the remote
INSTALL_TIMEOUT = 1800.0  # pip, compiling the Cython extensions
PACKAGE = "birdterm"
SHOWN_FILES = 5  # dirty files named in the refusal


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished subprocess."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when it exited 0."""
        return self.returncode == 0

    @property
    def reason(self) -> str:
        """Its last non-empty line of stderr (else stdout), for a one-line message."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return f"exit status {self.returncode}"


async def run_process(
    argv: Sequence[str], cwd: Path | None, timeout: float, env: dict[str, str] | None = None
) -> Completed:
    """Run a command without blocking the event loop; killed when it outlives `timeout`."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        return Completed(127, "", f"{argv[0]}: command not found")
    except OSError as exc:
        return Completed(126, "", f"{argv[0]}: {exc}")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError) as exc:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return Completed(124, "", f"{argv[0]} timed out after {timeout:g} s")
    assert proc.returncode is not None
    return Completed(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a password nobody will type
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    env["LC_ALL"] = "C"
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):  # this checkout, not another
        env.pop(name, None)
    return env


class _Git:
    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.env = _git_env()

    async def __call__(self, *args: str, timeout: float = GIT_TIMEOUT) -> Completed:
        return await run_process(("git", *args), self.repo, timeout, self.env)


def package_checkout(package_dir: Path | None = None) -> Path | None:
    """The source tree birdterm runs from (…/src/birdterm with a pyproject.toml two levels
    up), or None when it was installed from a package. Whether it is a git checkout is
    checked by git itself."""
    pkg = (package_dir or Path(__file__).parent).resolve()
    root = pkg.parent.parent
    if pkg.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


def default_install_command(python: str) -> list[str]:
    """What `make install` runs: an editable install that rebuilds the Cython extensions."""
    return [python, "-m", "pip", "install", "--quiet", "-e", ".[dev]"]


def default_upgrade_command(python: str) -> list[str]:
    """Upgrade an installed package from the index."""
    return [python, "-m", "pip", "install", "--quiet", "--upgrade", PACKAGE]


async def run_update(
    repo_dir: Path | None = None,
    *,
    python: str = sys.executable,
    install_command: Sequence[str] | None = None,
    upgrade_command: Sequence[str] | None = None,
    package_dir: Path | None = None,
) -> str:
    """Update birdterm; one line saying what happened (or why nothing did).

    `repo_dir`: the checkout to update (default: the one the birdterm package lives in; with
    none, a pip upgrade). `install_command` / `upgrade_command` replace the pip commands
    (argv; the install runs in the checkout)."""
    checkout = repo_dir if repo_dir is not None else package_checkout(package_dir)
    if checkout is None:
        return await _pip_upgrade(python, upgrade_command)
    install = list(install_command or default_install_command(python))
    return await _git_update(Path(checkout), install, explicit=repo_dir is not None)


async def _git_update(repo: Path, install: list[str], explicit: bool) -> str:
    git = _Git(repo)
    top = await git("rev-parse", "--show-toplevel")
    if not top.ok:
        if "command not found" in top.stderr:
            return "update: git is not installed; nothing changed"
        return f"update: {repo} is not a git checkout ({top.reason}); nothing changed"
    if not explicit and Path(top.stdout.strip()).resolve() != repo.resolve():
        return (
            f"update: {repo} is inside another git repository, not its own checkout; "
            "update it by hand"
        )
    branch_out = await git("symbolic-ref", "--quiet", "--short", "HEAD")
    if not branch_out.ok:
        return (
            "update: detached HEAD (no branch checked out): check out a branch first; "
            "nothing changed"
        )
    branch = branch_out.stdout.strip()
    upstream_out = await git("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}")
    if not upstream_out.ok:
        return (
            f"update: branch {branch} has no upstream: set one with "
            f"`git branch --set-upstream-to=origin/{branch}`; nothing changed"
        )
    upstream = upstream_out.stdout.strip()
    status = await git("status", "--porcelain", "--untracked-files=normal")
    if not status.ok:
        return f"update: git status failed ({status.reason}); nothing changed"
    dirty = [line[3:] for line in status.stdout.splitlines() if line.strip()]
    if dirty:
        shown = ", ".join(dirty[:SHOWN_FILES])
        more = f" and {len(dirty) - SHOWN_FILES} more" if len(dirty) > SHOWN_FILES else ""
        return (
            f"update: local changes in {shown}{more}: commit or stash them first; nothing changed"
        )
    remote = (await git("config", f"branch.{branch}.remote")).stdout.strip() or "origin"
    fetch = await git("fetch", "--quiet", "--no-tags", remote, timeout=FETCH_TIMEOUT)
    if not fetch.ok:
        return f"update: cannot reach {remote} (offline?): {fetch.reason}; nothing changed"
    counts = await git("rev-list", "--left-right", "--count", "HEAD...@{u}")
    if not counts.ok:
        return f"update: cannot compare {branch} with {upstream} ({counts.reason}); nothing changed"
    ahead, behind = (int(n) for n in counts.stdout.split())
    before = (await git("rev-parse", "--short", "HEAD")).stdout.strip()
    if behind == 0:
        extra = f" ({ahead} local commit{'s' * (ahead != 1)} not pushed)" if ahead else ""
        return f"birdterm is already up to date: {branch} at {before}{extra}"
    if ahead:
        return (
            f"update: {branch} has diverged from {upstream} ({ahead} local, {behind} upstream "
            "commits): merge or rebase by hand; nothing changed"
        )
    merge = await git("merge", "--ff-only", "--quiet", "@{u}")
    if not merge.ok:
        return f"update: fast-forward failed ({merge.reason}); nothing changed"
    after = (await git("rev-parse", "--short", "HEAD")).stdout.strip()
    moved = f"{branch} {before} -> {after} ({behind} commit{'s' * (behind != 1)})"
    installed = await run_process(install, repo, INSTALL_TIMEOUT)
    if not installed.ok:
        return (
            f"update: pulled {moved}, but the reinstall failed ({installed.reason}): "
            "run `make install`, then restart birdterm"
        )
    return f"updated {moved} and reinstalled: restart birdterm to use it"


def _installed_version() -> str | None:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return None


async def _pip_upgrade(python: str, upgrade_command: Sequence[str] | None) -> str:
    before = _installed_version()
    argv = list(upgrade_command or default_upgrade_command(python))
    done = await run_process(argv, None, INSTALL_TIMEOUT)
    if not done.ok:
        return f"update: pip could not upgrade {PACKAGE} (offline?): {done.reason}; nothing changed"
    probe = await run_process(
        [python, "-c", f"import importlib.metadata as m; print(m.version({PACKAGE!r}))"],
        None,
        GIT_TIMEOUT,
    )
    after = probe.stdout.strip() if probe.ok else None
    if before and after and before == after:
        return f"birdterm {before} is already the latest"
    if after:
        return f"upgraded birdterm {before or '?'} -> {after}: restart birdterm to use it"
    return "upgraded birdterm: restart birdterm to use it"
