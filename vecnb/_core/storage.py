"""Files on any fsspec URL: atomic multi-file writes, manifest-first reads, credential redaction.

vecnb writes indexes, frames and caches to local folders or object storage (``s3://``,
``gs://``, ``memory://``, any fsspec protocol). This module holds the few operations that
have to be right everywhere:

* :func:`write_folder` (and :func:`write_files`) writes a *set* of files under a prefix so that
  a reader never sees half of it. Layout::

      <prefix>/manifest.json                  written LAST; names the version folder and every
                                              file with its size and SHA-256
      <prefix>/v-<time_ns>-<random>/<name>    the files of one save (never overwritten)
      <prefix>/.vecnb.lock                    local folders: the save lock (flock)

  The files go to a fresh version folder first; the manifest is then replaced in one step (an
  ``os.replace`` on local disks, a single PUT on object stores, which S3 / GCS / Azure make
  visible atomically). A crash before that leaves the previous manifest, and so the previous
  version, intact. Saves to one local folder take turns on the lock, so the last to finish
  wins and no save removes a folder another may still publish; each save removes the orphans
  of killed saves and keeps the version it replaced for readers that read the old manifest a
  moment ago (details in :func:`write_folder`). This is the one save path: ``VectorIndex.save``
  writes through it.
* :func:`read_manifest` / :func:`read_file` / :func:`download` / :func:`local_folder` read
  *through* the manifest: only the files it names, each checked against its size and SHA-256,
  never a file outside the folder or behind a symbolic link.
* Local paths use :class:`LocalFS` (plain ``os`` calls); fsspec is imported only for URLs.
* :func:`write_frame` / :func:`read_frame` round-trip a DataFrame (embedding columns as Arrow
  ``fixed_size_list<float32>[d]``) through parquet with ``df.attrs["vecnb"]`` intact: the
  vecnb metadata is stored both where pandas keeps ``attrs`` and under its own ``vecnb`` key
  of the parquet schema metadata, so other parquet writers / readers cannot drop it silently.
* :func:`redact` removes credentials from any text shown to a user. Credentials come from the
  usual places (environment, ``~/.aws`` profiles, instance roles) or ``storage_options=``; every
  error raised here goes through :func:`redact` (URL passwords, signed-URL query parameters,
  ``Credential=`` / ``Signature=`` fragments, and the literal values of secret environment
  variables and secret ``storage_options``), and :class:`Location` reprs show only the URL.

Errors: a missing object raises ``FileNotFoundError``; another save holding a local folder's
lock past ``lock_timeout`` raises :class:`~vecnb.errors.StoreBusyError`; a URL whose protocol needs a package
raises :class:`~vecnb.errors.MissingDependencyError`; unreachable endpoints and refused
credentials raise :class:`~vecnb.errors.StoreConnectionError`; a prefix without a valid
manifest raises :class:`~vecnb.errors.IndexFormatError`; other failures
:class:`~vecnb.errors.StoreError` (``store="storage"``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from vecnb._core.redaction import scrub
from vecnb.errors import (
    IndexFormatError,
    IndexNotFoundError,
    InvalidInputError,
    MissingDependencyError,
    StoreBusyError,
    StoreConnectionError,
    StoreError,
    VecnbError,
)

__all__ = [
    "Location",
    "location",
    "redact",
    "LocalFS",
    "write_folder",
    "write_files",
    "read_manifest",
    "local_folder",
    "VersionGoneError",
    "read_file",
    "download",
    "write_frame",
    "read_frame",
    "MANIFEST",
    "FORMAT",
    "FORMAT_VERSION",
]

MANIFEST = "manifest.json"
FORMAT = "vecnb.files"
FORMAT_VERSION = 1
_VERSION_RE = re.compile(r"^v-(\d{19})-[0-9a-f]{8}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_PARQUET_KEY = b"vecnb"
_EXTRA_FOR = {"s3": "s3", "s3a": "s3", "gs": "s3", "gcs": "s3", "az": "s3", "abfs": "s3", "adl": "s3"}

# ------------------------------------------------------------------------------ redaction
_SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID",
    "AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_CLIENT_SECRET", "GOOGLE_API_KEY", "GCS_OAUTH_TOKEN", "FSSPEC_S3_KEY", "FSSPEC_S3_SECRET",
)
_SECRET_OPTION = re.compile(
    r"(secret|token|password|passwd|pwd|credential|(^|_)key$|^key|account_key|sas|connection_string|signature)",
    re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s'\"]+)@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|token|access_token|"
    r"secret|password|key|awsaccesskeyid|sv|se|sp|skoid|sktid|credential|code)=)(?P<val>[^&#\s'\"]*)",
    re.IGNORECASE)
_AUTH_FRAGMENT = re.compile(r"(?P<key>\b(?:Credential|Signature|SignedHeaders)=)(?P<val>[^,\s'\"&]+)")
_MASK = "***"


def _secret_values(storage_options: Mapping[str, Any] | None = None) -> list[str]:
    vals = [os.environ.get(name, "") for name in _SECRET_ENV]

    def walk(obj: Any, key: str = "") -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                walk(v, str(k))
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v, key)
        elif isinstance(obj, str) and key and _SECRET_OPTION.search(key):
            vals.append(obj)

    if storage_options:
        walk(storage_options)
    # longest first, so a secret containing another is masked whole; short values would mask noise
    return sorted({v for v in vals if isinstance(v, str) and len(v) >= 4}, key=len, reverse=True)


def redact(text: Any, storage_options: Mapping[str, Any] | None = None, url: Any = None) -> str:
    """Return ``str(text)`` with credentials replaced by ``***``.

    Removes the user-info part of URLs (``scheme://user:pass@host``), secret query parameters
    of signed URLs (``X-Amz-Signature``, ``sig``, ``token``...), ``Credential=`` /
    ``Signature=`` fragments of AWS authorisation headers, and every literal value of a
    secret environment variable (``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
    ``AWS_ACCESS_KEY_ID``, Azure / Google keys) or of a secret-looking ``storage_options`` entry.

    Parameters
    ----------
    text : object
        Message, URL or repr.
    storage_options : mapping, optional
        Options given to fsspec; values under keys such as ``secret``, ``token``, ``key``,
        ``password`` are masked wherever they appear.
    url : str, optional
        The URL the text is about: its user-info (``s3://KEY:SECRET@bucket``) is masked in every
        form, even where a back-end quoted it without the scheme (``"KEY:SECRET@bucket"``).

    Examples
    --------
    >>> vecnb.storage.redact("s3://AKIA:hunter2@bucket/key failed")
    's3://***@bucket/key failed'
    >>> vecnb.storage.redact("token abc123 refused", {"token": "abc123"})
    'token *** refused'
    """
    s = str(text)
    if url is not None:  # every form of the URL's own credentials, wherever a back-end quoted them
        s = scrub(s, [url], user_is_secret=True)
    for secret in _secret_values(storage_options):
        s = s.replace(secret, _MASK)
    s = _URL_USERINFO.sub(lambda m: m.group("scheme") + _MASK + "@", s)
    s = _QUERY_SECRET.sub(lambda m: m.group("key") + _MASK, s)
    s = _AUTH_FRAGMENT.sub(lambda m: m.group("key") + _MASK, s)
    return s


# ------------------------------------------------------------------------------ locations
class LocalFS:
    """The few file-system operations vecnb needs, on local paths, without fsspec.

    Mirrors the fsspec method names used here (``exists``, ``isdir``, ``ls``, ``cat_file``,
    ``pipe_file``, ``makedirs``, ``rm``, ``find``, ``get_file``, ``put_file``), so a plain
    folder works on a core install; fsspec is imported only for URLs.

    Examples
    --------
    The subset of fsspec's file-system API the storage layer uses, for local paths (no fsspec needed):

    >>> fs = vecnb.storage.LocalFS()
    >>> fs.makedirs("box/sub", exist_ok=True)
    >>> fs.pipe_file("box/sub/a.txt", b"hello")
    >>> fs.exists("box/sub/a.txt"), fs.isfile("box/sub/a.txt"), fs.isdir("box/sub")
    (True, True, True)
    >>> fs.cat_file("box/sub/a.txt")
    b'hello'
    >>> [p.rsplit("/", 1)[-1] for p in fs.ls("box/sub", detail=False)], len(fs.find("box"))
    (['a.txt'], 1)
    >>> fs.get_file("box/sub/a.txt", "copy.txt"); fs.put_file("copy.txt", "box/b.txt")
    >>> fs.invalidate_cache()
    >>> fs.rm("box", recursive=True)
    >>> fs.exists("box")
    False
    """

    protocol = ("file", "local")

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        return os.path.lexists(path)

    def isdir(self, path: str) -> bool:
        """Whether ``path`` is a folder."""
        return os.path.isdir(path)

    def isfile(self, path: str) -> bool:
        """Whether ``path`` is a file."""
        return os.path.isfile(path)

    def ls(self, path: str, detail: bool = False) -> list[str]:
        """The entries of folder ``path``, full paths, sorted (``detail`` is accepted and ignored)."""
        return [os.path.join(path, n) for n in sorted(os.listdir(path))]

    def cat_file(self, path: str) -> bytes:
        """The bytes of file ``path``."""
        with open(path, "rb") as fh:
            return fh.read()

    def pipe_file(self, path: str, data: bytes) -> None:
        """Write ``data`` (bytes) to file ``path``."""
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)

    def makedirs(self, path: str, exist_ok: bool = True) -> None:
        """Create folder ``path`` and its parents."""
        os.makedirs(path, exist_ok=exist_ok)

    def rm(self, path: str, recursive: bool = False) -> None:
        """Remove ``path`` (a folder only with ``recursive``)."""
        if os.path.isdir(path) and not os.path.islink(path):
            if not recursive:
                raise IsADirectoryError(path)
            shutil.rmtree(path)
        else:
            os.remove(path)

    def find(self, path: str) -> list[str]:
        """Every file under ``path``, recursively (full paths)."""
        out = []
        for dirpath, _, files in os.walk(path):
            out.extend(os.path.join(dirpath, f) for f in files)
        return sorted(out)

    def get_file(self, src: str, dst: str) -> None:
        """Copy file ``src`` to ``dst``."""
        shutil.copyfile(src, dst)

    def put_file(self, src: str, dst: str) -> None:
        """Copy file ``src`` to ``dst``."""
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        shutil.copyfile(src, dst)

    def invalidate_cache(self, path: str | None = None) -> None:
        """A no-op: local listings are never cached (fsspec's method, for the same calls)."""
        return None


_LOCAL_FS = LocalFS()


class Location:
    """A folder / prefix on some file system: ``fs`` + ``root``, with a safe repr.

    Build with :func:`location`. ``str()`` and ``repr()`` show the redacted URL only, never
    the storage options. Local paths use :class:`LocalFS` (no fsspec needed).

    Examples
    --------
    >>> loc = vecnb.storage.location("s3://bucket/cisi", storage_options={"key": "AKIA", "secret": "hunter2"})
    >>> loc.url, loc.redact("failed with secret hunter2")
    ('s3://bucket/cisi', 'failed with secret ***')
    >>> loc.is_local, loc.path("manifest.json")
    (False, 'bucket/cisi/manifest.json')
    """

    def __init__(self, fs: Any, root: str, url: str, storage_options: Mapping[str, Any] | None = None):
        self.fs = fs
        self.root = root.rstrip("/") if root not in ("/", "") else root
        self._url = url
        self._options = dict(storage_options or {})

    @property
    def url(self) -> str:
        """The URL as shown to users (credentials redacted)."""
        return redact(self._url, self._options, self._url)

    @property
    def is_local(self) -> bool:
        """True for the local file system (atomic ``os.replace``, file locks and symlink checks available)."""
        proto = self.fs.protocol
        protos = (proto,) if isinstance(proto, str) else tuple(proto)
        return "file" in protos or "local" in protos

    def path(self, name: str = "") -> str:
        """The file-system path of ``name`` under the root."""
        if not name:
            return self.root
        return f"{self.root}/{name}" if self.root else name

    def redact(self, text: Any) -> str:
        """:func:`redact` with this location's storage options and URL."""
        return redact(text, self._options, self._url)

    def __repr__(self) -> str:
        return f"<vecnb.storage.Location {self.url}>"

    def __str__(self) -> str:
        return self.url

    @contextmanager
    def errors(self, operation: str, target: str | None = None) -> Iterator[None]:
        """Turn backend exceptions into vecnb errors with redacted messages."""
        try:
            yield
        except VecnbError as exc:
            # messages built from a back-end's text may carry credentials: scrub them on the way out
            clean = self.redact(str(exc))
            if clean != str(exc) and exc.args:
                exc.args = (clean, *exc.args[1:])
            raise
        except FileNotFoundError as exc:
            msg = str(exc)
            if "://" not in msg and " at " not in msg:  # a bare back-end path: say what was looked for
                msg = f"{operation}: nothing at {target or self.url} ({msg})"
            raise FileNotFoundError(self.redact(msg)) from None
        except Exception as exc:  # noqa: BLE001 - every backend has its own exception tree
            raise _translate(exc, operation, target or self.url, self._options, self._url) from None


def _is_local_url(raw: str) -> bool:
    return "://" not in raw or raw.startswith("file://")


def location(url: str | os.PathLike | Location, storage_options: Mapping[str, Any] | None = None) -> Location:
    """Resolve a path or fsspec URL to a :class:`Location`.

    Local paths (and ``file://`` URLs) need no fsspec; other URLs go through fsspec.

    Parameters
    ----------
    url : str or os.PathLike or Location
        ``"indexes/cisi"``, ``"file:///..."``, ``"s3://bucket/prefix"``, ``"memory://x"``...
    storage_options : mapping, optional
        Passed to the file system (e.g. ``{"anon": True}``, ``{"client_kwargs": {...}}``).
        Usually unnecessary: s3fs reads credentials and ``AWS_ENDPOINT_URL`` from the
        environment / profile.

    Raises
    ------
    MissingDependencyError
        The protocol needs a package that is not installed (``s3fs``, ``gcsfs``...).
    InvalidInputError
        Unknown protocol.

    Examples
    --------
    >>> loc = vecnb.storage.location("saved/index")
    >>> loc.is_local, loc.path("data.bin").endswith("saved/index/data.bin")
    (True, True)
    >>> vecnb.storage.location("s3://bucket/key", storage_options={"secret": "hunter2"})
    <vecnb.storage.Location s3://bucket/key>
    """
    if isinstance(url, Location):
        return url
    if not isinstance(url, (str, os.PathLike)):
        raise InvalidInputError(f"Expected a path or fsspec URL, got {type(url).__name__}.")
    raw = os.fspath(url)
    if not isinstance(raw, str):
        raise InvalidInputError("Pass the path as text, not bytes.")
    if not raw:
        raise InvalidInputError("Empty path; pass a folder, a file or an fsspec URL such as 's3://bucket/prefix'.")
    if _is_local_url(raw) and not storage_options:
        local = raw.removeprefix("file://")
        root = os.path.abspath(os.path.expanduser(local))
        return Location(_LOCAL_FS, root, raw)
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec is in the s3 extra
        raise MissingDependencyError.for_extra(f"Reading and writing {redact(raw.split('://', 1)[0])}:// URLs", "s3",
                                               exc.name) from None  # the scheme only: no credentials
    try:
        fs, root = fsspec.core.url_to_fs(raw, **dict(storage_options or {}))
    except ImportError as exc:
        proto = raw.split("://", 1)[0] if "://" in raw else "file"
        raise MissingDependencyError(redact(
            f"{proto}:// URLs need an fsspec back-end that is not installed ({exc}). "
            f'Install it with: pip install "vecnb[{_EXTRA_FOR.get(proto, "s3")}]" (s3fs) or the package named above.',
            storage_options, raw)) from None
    except Exception as exc:  # noqa: BLE001 - a malformed URL fails in many ways; never echo it raw
        raise InvalidInputError(redact(f"Cannot use {raw}: {type(exc).__name__}: {exc}", storage_options, raw)) from None
    return Location(fs, root, raw, storage_options)


def _translate(exc: BaseException, operation: str, target: str, options: Mapping[str, Any],
               url: str | None = None) -> StoreError:
    """Map a back-end exception to StoreConnectionError / StoreError, message redacted."""
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    code = ""
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict):
        code = str(resp.get("Error", {}).get("Code", ""))
    refused = code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken",
                       "InvalidToken", "AuthorizationHeaderMalformed"} or isinstance(exc, PermissionError) or any(
        w in low for w in ("access denied", "invalidaccesskeyid", "signaturedoesnotmatch", "forbidden",
                           "nocredentialserror", "unable to locate credentials", "expiredtoken"))
    unreachable = isinstance(exc, (ConnectionError, TimeoutError)) or any(
        w in low for w in ("could not connect", "connection refused", "cannot connect", "endpointconnectionerror",
                           "name or service not known", "timed out", "connect timeout"))
    if refused:
        msg = (f"{operation} {target}: the storage service refused the credentials or the access ({text}). "
               "Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or your profile / role) and the bucket policy.")
        return StoreConnectionError(redact(msg, options, url), store="storage", operation=operation)
    if unreachable:
        msg = (f"{operation} {target}: cannot reach the storage service ({text}). Check the network and the "
               "endpoint (AWS_ENDPOINT_URL / storage_options={'client_kwargs': {'endpoint_url': ...}}).")
        return StoreConnectionError(redact(msg, options, url), store="storage", operation=operation)
    return StoreError(redact(f"{operation} {target} failed: {text}", options, url), store="storage", operation=operation)


# ------------------------------------------------------------------------------ helpers
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: str, *, fsync: bool = False) -> tuple[int, str]:
    """Size and SHA-256 of a file, read in 1 MiB blocks; ``fsync=True`` also flushes it to disk."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
        if fsync:
            os.fsync(fh.fileno())
    return size, h.hexdigest()


def _check_name(name: str, what: str = "file name") -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or any(p in (".", "..") for p in name.split("/")):
        raise InvalidInputError(
            f"{what} {name!r} is not allowed: use relative names of letters, digits, '.', '_', '-' "
            "separated by '/', without '..'."
        )
    return name


def put_bytes(loc: Location, path: str, data: bytes) -> None:
    """Write one object / file so that it appears whole (tmp + fsync + replace locally, one PUT remotely)."""
    if loc.is_local:
        folder = os.path.dirname(path)
        os.makedirs(folder or ".", exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(folder or ".")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    else:
        loc.fs.pipe_file(path, data)


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def _new_version() -> str:
    return f"v-{time.time_ns():019d}-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------------------ the save lock
LOCK = ".vecnb.lock"
#: seconds a save waits for another save to the same local folder before StoreBusyError
LOCK_TIMEOUT = 600.0
#: on object stores (no locks) a version folder that no manifest names is removed only when
#: it was started this long before the version being replaced (a save running longer could
#: otherwise lose its folder to another save's clean-up)
STALE_AFTER_S = 3600.0


@contextmanager
def _save_lock(loc: Location, timeout: float) -> Iterator[None]:
    """Hold the folder's save lock (an ``flock`` on ``<root>/.vecnb.lock``; local folders only).

    The kernel releases an ``flock`` when its process dies, so a save killed with ``kill -9``
    never leaves a stale lock behind. The lock file itself is never removed (removing it would
    let two savers hold locks on different files). Object stores have no locks: there, saves
    rely on the publish protocol of :func:`write_folder` alone.
    """
    if not loc.is_local:
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no flock; fall back to the protocol alone
        yield
        return
    os.makedirs(loc.root, exist_ok=True)
    path = loc.path(LOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    try:
                        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown process"
                    except OSError:  # pragma: no cover
                        holder = "unknown process"
                    raise StoreBusyError(
                        f"another save to {loc.url} has held its lock ({path}, {holder}) for more than {timeout:g} s. "
                        "Wait for it to finish, or pass a longer lock_timeout= to save().",
                        store="storage", operation="save") from None
                time.sleep(delay)
                delay = min(0.2, delay * 1.5)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        except OSError:  # pragma: no cover - the note is only for the error message
            pass
        yield
    finally:
        os.close(fd)  # releases the flock


# ------------------------------------------------------------------------------ multi-file sets
def _owned_leftovers(loc: Location, names: list[str], manifest: str) -> bool:
    """Whether every entry of a folder without a manifest is something a (killed) vecnb save leaves."""
    tmp = re.compile(rf"^\.{re.escape(manifest)}\.[0-9a-f]{{8}}\.tmp$")
    return all(n == LOCK or _VERSION_RE.match(n) or tmp.match(n) for n in names)


def _check_target(loc: Location, manifest: str, *, again: bool = True) -> dict[str, Any] | None:
    """The current manifest of the folder to write (``None`` when new); refuse folders vecnb does not own."""
    fs = loc.fs
    man_path = loc.path(manifest)
    if fs.exists(man_path):
        raw = fs.cat_file(man_path)
        try:
            return _parse_manifest(raw, loc, manifest)
        except IndexFormatError as exc:
            raise IndexFormatError(loc.redact(
                f"{exc} Refusing to replace it: save into a new or empty folder, or delete {loc.url} first.")) from None
    if fs.exists(loc.root):
        if not fs.isdir(loc.root):
            raise IndexFormatError(loc.redact(f"{loc.url} is a file; pass a folder / prefix to write into."))
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(loc.root, detail=False)]
        names = [n for n in names if n]
        if manifest in names and again:  # another save published one since we looked (object stores: no lock)
            with contextlib.suppress(Exception):
                fs.invalidate_cache(loc.root)
            return _check_target(loc, manifest, again=False)
        if names and not _owned_leftovers(loc, names, manifest):
            raise IndexFormatError(loc.redact(
                f"{loc.url} is a non-empty folder without a vecnb {manifest}; refusing to write into it. "
                "Choose a new or empty folder / prefix."))
    return None


def _walk_written(folder: str) -> dict[str, tuple[int, str]]:
    """``name -> (size, sha256)`` of every file under a freshly written local folder (fsynced; no symlinks)."""
    out: dict[str, tuple[int, str]] = {}
    for dirpath, dirs, files in os.walk(folder):
        for d in dirs:
            if os.path.islink(os.path.join(dirpath, d)):
                raise StoreError(f"the saved data contain a symbolic link ({d}); vecnb saves plain files only.",
                                 store="storage", operation="save")
        for fn in files:
            full = os.path.join(dirpath, fn)
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            if os.path.islink(full):
                raise StoreError(f"the saved data contain a symbolic link ({rel}); vecnb saves plain files only.",
                                 store="storage", operation="save")
            _check_name(rel)
            out[rel] = _file_sha256(full, fsync=True)
        _fsync_dir(dirpath)
    return out


def write_folder(url: str | os.PathLike | Location, fill: Callable[[str], Mapping[str, Any] | None], *,
                 meta: Mapping[str, Any] | None = None, manifest: str = MANIFEST,
                 storage_options: Mapping[str, Any] | None = None, lock_timeout: float = LOCK_TIMEOUT,
                 prune: bool = True) -> dict[str, Any]:
    """Save a folder of files under ``url`` atomically: the files first, the checksummed manifest last.

    ``fill(folder)`` writes the files into an empty *local* folder (the new version folder itself
    on local disks, a temporary staging folder for URLs, uploaded afterwards) and may return
    more manifest ``meta``. Every file is then listed in the manifest with its size and SHA-256.

    Concurrency: on local folders a save holds ``<root>/.vecnb.lock`` (``flock``, released by
    the kernel even after ``kill -9``) from start to end, so saves to one folder run one after
    another and the last one to finish wins; while it holds the lock, every version folder
    other than the new one and the one it replaces is an orphan of a killed save and is removed,
    with stale manifest temp files. The replaced version stays for readers that read the old
    manifest a moment ago (and loaders retry when a version vanishes under them). On object
    stores (no locks) the last manifest PUT wins, and orphans are removed once they are
    :data:`STALE_AFTER_S` older than the version being replaced.

    Parameters
    ----------
    url : str, os.PathLike or Location
        The folder / prefix. Created when missing; refused when it holds files vecnb did not write.
    fill : callable
        ``fill(folder) -> dict | None``.
    meta : mapping, optional
        JSON-able data stored in the manifest under ``"meta"`` (merged with what ``fill`` returns).
    manifest : str
        The manifest's file name.
    storage_options : mapping, optional
        fsspec options (see :func:`location`).
    lock_timeout : float
        Seconds to wait for another save to the same local folder (then :class:`StoreBusyError`).
    prune : bool
        Remove orphaned version folders and stale temp files.

    Returns
    -------
    dict
        The manifest written (``version``, ``files`` with ``size`` / ``sha256``, ``meta``).

    Examples
    --------
    >>> def fill(folder):
    ...     with open(f"{folder}/data.txt", "w") as f:
    ...         f.write("rows")
    >>> doc = vecnb.storage.write_folder("saved", fill, meta={"rows": 1})
    >>> sorted(doc["files"]), vecnb.storage.read_file("saved", "data.txt")
    (['data.txt'], b'rows')
    """
    loc = location(url, storage_options)
    _check_name(manifest, "manifest name")
    if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, (int, float)) or not lock_timeout >= 0:
        raise InvalidInputError(f"lock_timeout must be a number of seconds >= 0, got {lock_timeout!r}.")
    if loc.is_local and os.path.lexists(loc.root) and not os.path.isdir(loc.root):
        raise IndexFormatError(loc.redact(f"{loc.url} is a file; pass a folder to write into."))
    with loc.errors("write", loc.url), _save_lock(loc, float(lock_timeout)):
        previous = _check_target(loc, manifest)
        version = _new_version()
        target = loc.path(version)
        staging = target if loc.is_local else tempfile.mkdtemp(prefix="vecnb-save-")
        try:
            os.makedirs(staging, exist_ok=not loc.is_local)
            extra = fill(staging) or {}
            entries = _walk_written(staging)
            if not entries:
                raise InvalidInputError("write: nothing was written; a saved set needs at least one file.")
            if not loc.is_local:
                for name in entries:
                    loc.fs.put_file(os.path.join(staging, *name.split("/")), loc.path(f"{version}/{name}"))
                _check_uploaded(loc, version, entries)
            try:
                meta_json = json.loads(json.dumps({**dict(meta or {}), **dict(extra)}))
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"meta must be JSON-serialisable: {exc}") from None
            doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "version": version,
                   "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "files": {n: {"size": sz, "sha256": d} for n, (sz, d) in sorted(entries.items())},
                   "meta": meta_json}
            if previous:
                doc["replaced"] = previous["version"]
            put_bytes(loc, loc.path(manifest), json.dumps(doc, indent=1, sort_keys=True).encode("utf-8"))
        except BaseException:
            _remove_quietly(loc, target)
            raise
        finally:
            if not loc.is_local:
                shutil.rmtree(staging, ignore_errors=True)
        if prune:
            _prune(loc, version, previous, manifest)
    return doc


def _check_uploaded(loc: Location, version: str, entries: Mapping[str, Any]) -> None:
    """Refuse to publish a version folder that lost files on the way (e.g. removed by another writer)."""
    fs = loc.fs
    fs.invalidate_cache(loc.path(version))
    found = {p[len(loc.path(version)):].lstrip("/") for p in fs.find(loc.path(version))}
    missing = sorted(set(entries) - found)
    if missing:
        raise StoreError(loc.redact(
            f"{loc.url}/{version}: {len(missing)} uploaded file(s) vanished before the manifest was written "
            f"(e.g. {missing[0]}); another writer may be cleaning up. The previous copy is intact; save again."),
            store="storage", operation="save")


def _remove_quietly(loc: Location, path: str) -> None:
    try:
        if loc.fs.exists(path):
            loc.fs.rm(path, recursive=True)
    except Exception:  # noqa: BLE001, S110 - best effort; the next save removes orphans
        pass


def _prune(loc: Location, current: str, previous_doc: Mapping[str, Any] | None, manifest: str) -> None:
    """Remove orphaned version folders and stale temp files (see :func:`write_folder`).

    Locally (under the lock) every version folder but the new one and the one it replaced is
    removed. On object stores only folders known to be finished are removed at once (the one
    the replaced manifest had itself replaced); other unnamed folders may belong to a save
    still uploading and are removed only once :data:`STALE_AFTER_S` old.
    """
    previous = previous_doc["version"] if previous_doc else None
    done = previous_doc.get("replaced") if previous_doc else None
    fs = loc.fs
    try:
        fs.invalidate_cache(loc.root)
        entries = fs.ls(loc.root, detail=False)
    except Exception:  # pragma: no cover - clean-up is best effort
        return
    keep = {current, previous}
    if loc.is_local:
        limit = None  # under the lock: anything unnamed is an orphan
    else:
        ref = _VERSION_RE.match(previous or current)
        limit = int(ref.group(1)) - int(STALE_AFTER_S * 1e9)
    tmp = re.compile(rf"^\.{re.escape(manifest)}\.[0-9a-f]{{8}}\.tmp$")
    for entry in entries:
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        m = _VERSION_RE.match(name)
        if m and name not in keep and (limit is None or int(m.group(1)) < limit or name == done):
            _remove_quietly(loc, entry)
        elif loc.is_local and tmp.match(name):
            _remove_quietly(loc, entry)


def write_files(url: str | os.PathLike | Location, files: Mapping[str, Any], *, meta: Mapping[str, Any] | None = None,
                manifest: str = MANIFEST, storage_options: Mapping[str, Any] | None = None,
                prune: bool = True, lock_timeout: float = LOCK_TIMEOUT) -> dict[str, Any]:
    """Write a set of named files under ``url`` atomically (see :func:`write_folder`).

    Parameters
    ----------
    files : mapping of str to bytes, local path, or callable
        ``name -> content``. Names are relative (``"frame.parquet"``, ``"store/vectors.npy"``).
        A ``bytes`` value is written as is; a ``pathlib.Path`` (or ``str``) names a local file to
        copy; a callable receives a writable binary file object.

    Raises
    ------
    IndexFormatError
        ``url`` is a non-empty folder whose manifest is missing or is not a vecnb manifest
        (vecnb never writes into a folder it does not own).

    Examples
    --------
    >>> doc = vecnb.storage.write_files("saved", {"a.txt": b"hello", "b.bin": b"bin"}, meta={"kind": "demo"})
    >>> sorted(doc["files"]), doc["meta"]
    (['a.txt', 'b.bin'], {'kind': 'demo'})
    >>> vecnb.storage.read_file("saved", "a.txt")
    b'hello'
    """
    if not files:
        raise InvalidInputError("write_files needs at least one file.")
    for name, content in files.items():
        _check_name(name)
        if isinstance(content, (str, os.PathLike)) and not os.path.isfile(os.fspath(content)):
            raise InvalidInputError(f"write_files: {name!r} names local file {os.fspath(content)!r}, which does not exist.")
        if not isinstance(content, (bytes, bytearray, memoryview, str, os.PathLike)) and not callable(content):
            raise InvalidInputError(
                f"write_files: {name!r} must be bytes, a local file path or a callable, got {type(content).__name__}.")

    def fill(folder: str) -> None:
        for name, content in files.items():
            out = os.path.join(folder, *name.split("/"))
            os.makedirs(os.path.dirname(out), exist_ok=True)
            if isinstance(content, (bytes, bytearray, memoryview)):
                with open(out, "wb") as fh:
                    fh.write(bytes(content))
            elif isinstance(content, (str, os.PathLike)):
                shutil.copyfile(os.fspath(content), out)
            else:
                with open(out, "wb") as fh:
                    content(fh)

    return write_folder(url, fill, meta=meta, manifest=manifest, storage_options=storage_options,
                        lock_timeout=lock_timeout, prune=prune)


def _parse_manifest(raw: bytes, loc: Location, manifest: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise IndexFormatError(loc.redact(f"{loc.url}/{manifest} is not valid JSON ({exc}).")) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else None
        hint = (" It was written by an older vecnb (data-* layout); load it with that version and save it again."
                if got == "vecnb-index" else "")
        raise IndexFormatError(loc.redact(f"{loc.url}/{manifest} is not a vecnb manifest (format {got!r}).{hint}"))
    fv = doc.get("format_version")
    if isinstance(fv, bool) or not isinstance(fv, int) or fv > FORMAT_VERSION or fv < 1:
        raise IndexFormatError(loc.redact(
            f"{loc.url}/{manifest} has format version {fv!r}; this vecnb reads up to {FORMAT_VERSION}. Upgrade vecnb."))
    version = doc.get("version")
    files = doc.get("files")
    if not isinstance(version, str) or not _VERSION_RE.match(version) or not isinstance(files, dict) or not files:
        raise IndexFormatError(loc.redact(
            f"{loc.url}/{manifest} is damaged or tampered with (no valid version folder name / file list)."))
    if not isinstance(doc.get("meta", {}), dict):
        raise IndexFormatError(loc.redact(f"{loc.url}/{manifest}: 'meta' is not an object."))
    for name, entry in files.items():
        try:
            _check_name(name)
        except InvalidInputError as exc:
            raise IndexFormatError(loc.redact(f"{loc.url}/{manifest} names a file outside its folder: {exc}")) from None
        size, digest = (entry.get("size"), entry.get("sha256")) if isinstance(entry, dict) else (None, None)
        if (isinstance(size, bool) or not isinstance(size, int) or size < 0 or not isinstance(digest, str)
                or not re.fullmatch(r"[0-9a-f]{64}", digest)):
            raise IndexFormatError(loc.redact(f"{loc.url}/{manifest}: the entry of {name!r} has no valid size / sha256."))
    return doc


def read_manifest(url: str | os.PathLike | Location, *, manifest: str = MANIFEST,
                  storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read and validate the manifest written by :func:`write_folder` / :func:`write_files`.

    Raises
    ------
    FileNotFoundError
        Nothing at ``url``.
    IndexFormatError
        ``url`` exists but has no valid vecnb manifest.

    Examples
    --------
    >>> _ = vecnb.storage.write_files("saved", {"a.txt": b"hello"})
    >>> doc = vecnb.storage.read_manifest("saved")
    >>> {"files", "meta", "version", "created"} <= set(doc), sorted(doc["files"])
    (True, ['a.txt'])
    >>> vecnb.storage.read_manifest("nothing_here")
    Traceback (most recent call last):
    ...
    vecnb.errors.IndexNotFoundError: Nothing at nothing_here: no saved vecnb index there. ...
    """
    loc = location(url, storage_options)
    fs = loc.fs
    with loc.errors("read", loc.url):
        try:
            fs.invalidate_cache(loc.root)
            raw = fs.cat_file(loc.path(manifest))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            if fs.exists(loc.root) and not fs.isdir(loc.root):
                raise IndexFormatError(loc.redact(
                    f"{loc.url} is a file, not a saved vecnb folder. If it is a store file (e.g. a SQLite store), "
                    "open the index in it with vecnb.open_index('sqlite', path=...).")) from None
            if fs.exists(loc.root):
                raise IndexFormatError(loc.redact(
                    f"{loc.url} holds no vecnb {manifest}: it is not a vecnb index / saved set (or the first save "
                    "never finished).")) from None
            raise IndexNotFoundError(loc.redact(
                f"Nothing at {loc.url}: no saved vecnb index there. Check the path (relative paths start at "
                f"{os.getcwd()!r}), or save one first with idx.save(path).")) from None
        return _parse_manifest(raw, loc, manifest)


def _mismatch(loc: Location, doc: Mapping[str, Any], name: str) -> IndexFormatError:
    return IndexFormatError(loc.redact(
        f"{loc.url}: file {doc['version']}/{name} does not match the size / SHA-256 its manifest records; the copy is "
        "damaged (or was changed after it was saved). Save the index again from its source, or restore a backup."))


def _vanished(loc: Location, doc: Mapping[str, Any], name: str) -> VersionGoneError:
    return VersionGoneError(loc.redact(
        f"{loc.url}: the manifest names {doc['version']}/{name}, which is missing (removed by a newer save, or a "
        "partial copy)."))


class VersionGoneError(IndexFormatError):
    """A file the manifest names is missing: usually a newer save replaced the version mid-read (retry).

    Examples
    --------
    >>> issubclass(vecnb.storage.VersionGoneError, vecnb.VecnbError)
    True
    """


def read_file(url: str | os.PathLike | Location, name: str, *, manifest: Mapping[str, Any] | None = None,
              verify: bool = True, storage_options: Mapping[str, Any] | None = None) -> bytes:
    """The bytes of file ``name`` of the set at ``url``, as named by its manifest.

    Parameters
    ----------
    manifest : mapping, optional
        A manifest already read with :func:`read_manifest` (read otherwise). Pass it when
        reading several files so that all come from the same version.
    verify : bool
        Check size and SHA-256 against the manifest.

    Raises
    ------
    KeyError
        The manifest lists no such file.
    IndexFormatError
        The file is missing or does not match the manifest.

    Examples
    --------
    >>> _ = vecnb.storage.write_files("saved", {"a.txt": b"hello"})
    >>> vecnb.storage.read_file("saved", "a.txt")
    b'hello'
    >>> vecnb.storage.read_file("saved", "b.txt")
    Traceback (most recent call last):
    ...
    KeyError: "'b.txt' is not in the manifest of saved; it lists ['a.txt']."
    """
    loc = location(url, storage_options)
    doc = dict(manifest) if manifest is not None else read_manifest(loc)
    entry = doc["files"].get(name)
    if entry is None:
        raise KeyError(f"{name!r} is not in the manifest of {loc.url}; it lists {sorted(doc['files'])}.")
    with loc.errors("read", f"{loc.url}/{doc['version']}/{name}"):
        if loc.is_local:
            folder = _confined_folder(loc, doc)
            path = _confined_file(loc, doc, folder, name)
        else:
            path = loc.path(f"{doc['version']}/{name}")
        try:
            data = loc.fs.cat_file(path)
        except FileNotFoundError:
            raise _vanished(loc, doc, name) from None
    if verify and (len(data) != entry.get("size") or _sha256(data) != entry.get("sha256")):
        raise _mismatch(loc, doc, name)
    return data


def _confined_folder(loc: Location, doc: Mapping[str, Any]) -> str:
    """The local version folder named by ``doc``: a real folder directly inside the root (no symlink)."""
    root = os.path.realpath(loc.root)
    folder = os.path.join(root, doc["version"])
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        raise _vanished(loc, doc, "") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise IndexFormatError(loc.redact(
            f"{loc.url}: {doc['version']} is a symbolic link or not a folder; vecnb reads only plain files inside "
            "the saved folder. Refusing to load."))
    return folder


def _confined_file(loc: Location, doc: Mapping[str, Any], folder: str, name: str) -> str:
    """``folder/name`` when every component is a plain folder / file (no symlink, no special file)."""
    path = folder
    parts = name.split("/")
    for i, part in enumerate(parts):
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise _vanished(loc, doc, name) from None
        last = i == len(parts) - 1
        if stat.S_ISLNK(st.st_mode) or (last and not stat.S_ISREG(st.st_mode)) or (not last and not stat.S_ISDIR(st.st_mode)):
            raise IndexFormatError(loc.redact(
                f"{loc.url}: {doc['version']}/{name} is a symbolic link or not a plain file; vecnb reads only plain "
                "files inside the saved folder. Refusing to load."))
    return path


def local_folder(url: str | os.PathLike | Location, doc: Mapping[str, Any], *, verify: bool = True,
                 storage_options: Mapping[str, Any] | None = None) -> tuple[str, str | None]:
    """A local folder holding exactly the files ``doc`` names, checked; ``(folder, temp_to_remove_or_None)``.

    Local sets are read in place: the version folder must be a plain folder inside the root,
    hold no file the manifest does not name, and contain no symbolic link (so nothing outside
    the saved folder is ever read). URLs are downloaded into a new temporary folder (the
    caller removes it). With ``verify`` every file's size and SHA-256 are checked against the
    manifest: that reads and hashes every byte once more (see ``vecnb.load_index`` for a measured
    figure), the cost ``verify=False`` saves for huge indexes, at the price of trusting the bytes;
    without ``verify`` each local file's size is still checked (a stat, nothing read).

    Raises
    ------
    IndexFormatError
        A file is missing, damaged, unlisted, a link, or outside the folder (:class:`VersionGoneError`
        when a listed file vanished, typically replaced by a concurrent save: read the manifest again).

    Examples
    --------
    >>> doc = vecnb.storage.write_files("saved", {"a.txt": b"hello"})
    >>> folder, tmp = vecnb.storage.local_folder("saved", doc)
    >>> open(f"{folder}/a.txt").read(), tmp
    ('hello', None)
    """
    loc = location(url, storage_options)
    with loc.errors("read", loc.url):
        if not loc.is_local:
            tmp = tempfile.mkdtemp(prefix="vecnb-load-")
            try:
                download(loc, tmp, manifest=doc, verify=verify)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return tmp, tmp
        folder = _confined_folder(loc, doc)
        listed = set(doc["files"])
        for name in sorted(listed):
            path = _confined_file(loc, doc, folder, name)
            entry = doc["files"][name]
            try:
                if verify:
                    size, digest = _file_sha256(path)
                else:  # sizes at least (a stat): a truncated or extended file is caught without reading it
                    size, digest = os.path.getsize(path), entry["sha256"]
            except FileNotFoundError:
                raise _vanished(loc, doc, name) from None
            if size != entry["size"] or digest != entry["sha256"]:
                raise _mismatch(loc, doc, name)
        for dirpath, dirs, files in os.walk(folder):
            for n in dirs + files:
                full = os.path.join(dirpath, n)
                rel = os.path.relpath(full, folder).replace(os.sep, "/")
                if os.path.islink(full):
                    raise IndexFormatError(loc.redact(
                        f"{loc.url}: {doc['version']}/{rel} is a symbolic link; refusing to load."))
                if n in files and rel not in listed:
                    raise IndexFormatError(loc.redact(
                        f"{loc.url}: {doc['version']}/{rel} is not listed in the manifest; the folder was changed "
                        "after it was saved. Refusing to load."))
        return folder, None


def download(url: str | os.PathLike | Location, dest: str | os.PathLike, *, manifest: Mapping[str, Any] | None = None,
             verify: bool = True, storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Copy every file of the set at ``url`` into local folder ``dest`` (created); return the manifest.

    Examples
    --------
    >>> _ = vecnb.storage.write_files("saved", {"a.txt": b"hello"})
    >>> doc = vecnb.storage.download("saved", "copy")
    >>> open("copy/a.txt").read()
    'hello'
    """
    loc = location(url, storage_options)
    doc = dict(manifest) if manifest is not None else read_manifest(loc)
    dest = os.fspath(dest)
    for name, entry in doc["files"].items():
        out = os.path.join(dest, *name.split("/"))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with loc.errors("download", f"{loc.url}/{doc['version']}/{name}"):
            if loc.is_local:
                src = _confined_file(loc, doc, _confined_folder(loc, doc), name)
            else:
                src = loc.path(f"{doc['version']}/{name}")
            try:
                loc.fs.get_file(src, out)
            except FileNotFoundError:
                raise _vanished(loc, doc, name) from None
        if verify:
            size, digest = _file_sha256(out)
            if size != entry.get("size") or digest != entry.get("sha256"):
                raise _mismatch(loc, doc, name)
    return doc


# ------------------------------------------------------------------------------ frames
def _json_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-able part of ``df.attrs`` (others dropped with a warning)."""
    out = {}
    for key, value in attrs.items():
        try:
            json.dumps({str(key): value})
        except (TypeError, ValueError):
            warnings.warn(f"df.attrs[{key!r}] is not JSON-serialisable and is not written to parquet.", stacklevel=3)
            continue
        out[str(key)] = value
    return out


def write_frame(df: Any, url: str | os.PathLike, *, storage_options: Mapping[str, Any] | None = None,
                index: bool | None = None) -> str:
    """Write a DataFrame to one parquet object, keeping embedding columns and ``df.attrs["vecnb"]``.

    Parameters
    ----------
    df : DataFrame
        Not modified.
    url : str or os.PathLike
        The object / file to write (``"s3://bucket/cisi.parquet"``, ``"out/cisi.parquet"``).
        Replaced atomically when it exists.
    index : bool, optional
        As in :meth:`pandas.DataFrame.to_parquet` (``None``: keep non-default indexes).

    Returns
    -------
    str
        The URL written, credentials redacted.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "pear"]}).vec.embed("text", model="hashing", progress=False)
    >>> vecnb.storage.write_frame(df, "fruit.parquet")
    'fruit.parquet'
    >>> back = vecnb.storage.read_frame("fruit.parquet")
    >>> back.vec.search("pear", k=1)["text"].tolist()
    ['pear']
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"write_frame takes a DataFrame, got {type(df).__name__}.")
    if any(not isinstance(c, str) for c in df.columns):
        raise InvalidInputError("parquet needs string column names; rename the columns (df.columns = df.columns.map(str)).")
    loc = location(url, storage_options)
    attrs = _json_attrs(df.attrs)
    frame = df.copy(deep=False)  # the caller's frame and attrs stay untouched
    frame.attrs = attrs
    try:
        table = pa.Table.from_pandas(frame, preserve_index=index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"Could not convert the frame to Arrow for parquet: {exc}. Convert mixed-type object columns first "
            "(e.g. df[col].astype(str))."
        ) from None
    schema_meta = dict(table.schema.metadata or {})
    if attrs:
        schema_meta[b"PANDAS_ATTRS"] = json.dumps(attrs).encode("utf-8")
    if "vecnb" in attrs:
        schema_meta[_PARQUET_KEY] = json.dumps(attrs["vecnb"]).encode("utf-8")
    table = table.replace_schema_metadata(schema_meta)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with loc.errors("write_frame", loc.url):
        if loc.fs.exists(loc.root) and loc.fs.isdir(loc.root):
            raise InvalidInputError(loc.redact(f"{loc.url} is a folder; pass a file name such as .../frame.parquet."))
        put_bytes(loc, loc.root, buf.getvalue())
    return loc.url


def read_frame(url: str | os.PathLike, *, columns: list[str] | None = None,
               storage_options: Mapping[str, Any] | None = None) -> Any:
    """Read a parquet object written by :func:`write_frame` (or any parquet file).

    Embedding columns come back as ``fixed_size_list<float32>[d]`` (zero-copy
    ``df.vec.matrix``), and ``df.attrs["vecnb"]`` as written.

    Raises
    ------
    FileNotFoundError
        Nothing at ``url``.
    IndexFormatError
        The object is not parquet.

    Examples
    --------
    >>> vecnb.storage.write_frame(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "t.parquet")
    't.parquet'
    >>> vecnb.storage.read_frame("t.parquet", columns=["b"])
       b
    0  x
    1  y
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vecnb._core.arrow import install_parquet_support, is_vector_dtype, vector_array

    install_parquet_support()
    loc = location(url, storage_options)
    with loc.errors("read_frame", loc.url):
        raw = loc.fs.cat_file(loc.root)
    try:
        schema_meta = pq.read_schema(pa.BufferReader(raw)).metadata or {}
        df = pd.read_parquet(io.BytesIO(raw), columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise IndexFormatError(loc.redact(f"{loc.url} is not a parquet file ({exc}).")) from None
    if _PARQUET_KEY in schema_meta:
        try:
            vec_meta = json.loads(schema_meta[_PARQUET_KEY])
        except ValueError:
            vec_meta = None
        if isinstance(vec_meta, dict):
            df.attrs["vecnb"] = vec_meta
    # columns vecnb knows as embeddings but that came back as lists (another writer's layout)
    known = (df.attrs.get("vecnb") or {}).get("columns") or {}
    for col in known:
        if col in df.columns and not is_vector_dtype(df[col].dtype) and len(df):
            from vecnb._core.arrow import column_matrix

            try:
                df[col] = vector_array(column_matrix(df[col], name=col))
            except VecnbError:
                pass
    return df
