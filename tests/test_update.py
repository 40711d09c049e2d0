"""/update against a local bare git repository: no network, the real git."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from birdterm.update import (
    default_install_command,
    default_upgrade_command,
    package_checkout,
    run_update,
)

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}  # fmt: skip


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


def commit(repo: Path, name: str, text: str) -> str:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "--quiet", "-m", f"change {name}")
    return head(repo)


@pytest.fixture
def repos(tmp_path, monkeypatch):
    """(bare remote, the checkout birdterm runs from, another clone that pushes)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)  # run_update's git sees no user config
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    git(seed, "checkout", "--quiet", "-b", "main")
    commit(seed, "pyproject.toml", "[project]\nname = 'birdterm'\n")
    commit(seed, ".gitignore", ".venv/\n*.so\n")
    commit(seed, "src/birdterm/__init__.py", "")
    git(seed, "push", "--quiet", "-u", "origin", "main")
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "--quiet", str(bare), str(checkout))
    return bare, checkout, seed


def recorder(tmp_path: Path) -> tuple[list[str], Path]:
    """A cheap real install command that records its working directory and arguments."""
    record = tmp_path / "install.json"
    script = (
        "import json, os, sys; "
        f"open({str(record)!r}, 'w').write(json.dumps([os.getcwd(), sys.argv[1:]]))"
    )
    return [sys.executable, "-c", script, "-e", ".[dev]"], record


async def test_up_to_date(repos, tmp_path):
    _, checkout, _ = repos
    install, record = recorder(tmp_path)
    before = head(checkout)
    line = await run_update(checkout, install_command=install)
    assert line == f"birdterm is already up to date: main at {before[:7]}"
    assert head(checkout) == before
    assert not record.exists()  # nothing to reinstall


async def test_new_commit_is_fast_forwarded_and_reinstalled(repos, tmp_path):
    _, checkout, seed = repos
    before = head(checkout)
    commit(seed, "src/birdterm/new.py", "x = 1\n")
    new = commit(seed, "README.md", "hello\n")
    git(seed, "push", "--quiet")
    (checkout / ".venv").mkdir()  # ignored files do not make the tree dirty
    (checkout / ".venv" / "marker").write_text("x")
    install, record = recorder(tmp_path)
    line = await run_update(checkout, install_command=install)
    assert line == (
        f"updated main {before[:7]} -> {new[:7]} (2 commits) and reinstalled: "
        "restart birdterm to use it"
    )
    assert head(checkout) == new
    assert (checkout / "src" / "birdterm" / "new.py").read_text() == "x = 1\n"
    cwd, args = json.loads(record.read_text())
    assert Path(cwd).resolve() == checkout.resolve()
    assert args == ["-e", ".[dev]"]


async def test_failed_reinstall_says_what_to_run(repos, tmp_path):
    _, checkout, seed = repos
    new = commit(seed, "README.md", "hello\n")
    git(seed, "push", "--quiet")
    failing = [sys.executable, "-c", "import sys; sys.exit('error: no compiler')"]
    line = await run_update(checkout, install_command=failing)
    assert "but the reinstall failed (error: no compiler): run `make install`" in line
    assert head(checkout) == new


async def test_dirty_tree_is_refused_with_the_file_named(repos, tmp_path):
    _, checkout, seed = repos
    commit(seed, "README.md", "hello\n")
    git(seed, "push", "--quiet")
    before = head(checkout)
    (checkout / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    (checkout / "notes.txt").write_text("untracked, not ignored\n")
    install, record = recorder(tmp_path)
    line = await run_update(checkout, install_command=install)
    assert line == (
        "update: local changes in pyproject.toml, notes.txt: commit or stash them first; "
        "nothing changed"
    )
    assert head(checkout) == before
    assert (checkout / "pyproject.toml").read_text() == "[project]\nname = 'mine'\n"
    assert not record.exists()


async def test_diverged_branch_is_refused(repos, tmp_path):
    _, checkout, seed = repos
    commit(seed, "README.md", "theirs\n")
    git(seed, "push", "--quiet")
    mine = commit(checkout, "LOCAL.md", "mine\n")
    install, record = recorder(tmp_path)
    line = await run_update(checkout, install_command=install)
    assert line == (
        "update: main has diverged from origin/main (1 local, 1 upstream commits): "
        "merge or rebase by hand; nothing changed"
    )
    assert head(checkout) == mine
    assert not record.exists()


async def test_local_commits_ahead_are_up_to_date(repos, tmp_path):
    _, checkout, _ = repos
    mine = commit(checkout, "LOCAL.md", "mine\n")
    line = await run_update(checkout, install_command=recorder(tmp_path)[0])
    assert line == f"birdterm is already up to date: main at {mine[:7]} (1 local commit not pushed)"


async def test_unreachable_remote_is_offline_and_changes_nothing(repos, tmp_path):
    _, checkout, _ = repos
    git(checkout, "remote", "set-url", "origin", str(tmp_path / "missing.git"))
    before = head(checkout)
    install, record = recorder(tmp_path)
    line = await run_update(checkout, install_command=install)
    assert line.startswith("update: cannot reach origin (offline?): ")
    assert line.endswith("; nothing changed")
    assert "\n" not in line
    assert head(checkout) == before
    assert not record.exists()


async def test_no_upstream_and_detached_head_are_refused(repos, tmp_path):
    _, checkout, _ = repos
    before = head(checkout)
    git(checkout, "checkout", "--quiet", "-b", "feature")
    line = await run_update(checkout, install_command=recorder(tmp_path)[0])
    assert line == (
        "update: branch feature has no upstream: set one with "
        "`git branch --set-upstream-to=origin/feature`; nothing changed"
    )
    git(checkout, "checkout", "--quiet", "--detach", before)
    line = await run_update(checkout, install_command=recorder(tmp_path)[0])
    assert line == (
        "update: detached HEAD (no branch checked out): check out a branch first; nothing changed"
    )
    assert head(checkout) == before


async def test_not_a_checkout(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    line = await run_update(plain, install_command=["true"])
    assert line.startswith(f"update: {plain} is not a git checkout (")


async def test_the_checkout_is_found_from_the_package_location(repos, tmp_path):
    _, checkout, seed = repos
    assert package_checkout(checkout / "src" / "birdterm") == checkout.resolve()
    assert package_checkout(tmp_path / "lib" / "site-packages" / "birdterm") is None
    commit(seed, "README.md", "hello\n")
    git(seed, "push", "--quiet")
    install, record = recorder(tmp_path)
    line = await run_update(package_dir=checkout / "src" / "birdterm", install_command=install)
    assert line.startswith("updated main ")
    assert record.exists()


async def test_installed_from_a_package_upgrades_with_pip(tmp_path):
    site = tmp_path / "site-packages" / "birdterm"
    site.mkdir(parents=True)
    record = tmp_path / "pip.json"
    script = f"import json, sys; open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))"
    upgrade = [sys.executable, "-c", script, "install", "--upgrade", "birdterm"]
    line = await run_update(package_dir=site, upgrade_command=upgrade)
    assert json.loads(record.read_text()) == ["install", "--upgrade", "birdterm"]
    assert "latest" in line or line.startswith("upgraded birdterm")
    offline = [sys.executable, "-c", "import sys; sys.exit('ERROR: No matching distribution')"]
    line = await run_update(package_dir=site, upgrade_command=offline)
    assert line == (
        "update: pip could not upgrade birdterm (offline?): ERROR: No matching distribution; "
        "nothing changed"
    )


def test_default_commands_match_make_install():
    assert default_install_command("/py") == ["/py", "-m", "pip", "install", "--quiet", "-e",
                                              ".[dev]"]  # fmt: skip
    assert default_upgrade_command("/py")[-2:] == ["--upgrade", "birdterm"]
