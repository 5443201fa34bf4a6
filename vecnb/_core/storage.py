"""Files on any fsspec URL: atomic multi-file writes, manifest-first reads, credential redaction.

vecnb writes indexes, frames and caches to local folders or object storage (``s3://``,
``gs://``, ``memory://``, any fsspec protocol). This module holds the few operations that
have to be right everywhere:

* :func:`write_files` writes a *set* of files under a prefix so that a reader never sees half
  of it. Layout::

      <prefix>/manifest.json             written LAST; names the version folder and every file
      <prefix>/v-<time_ns>-<random>/<name>   the files of one save (never overwritten)

  The files go to a fresh version folder first; the manifest is then replaced in one step (an
  ``os.replace`` on local disks, a single PUT on object stores, which S3 / GCS / Azure make
  visible atomically). A crash before that leaves the previous manifest, and so the previous
  version, intact. After the switch, version folders older than the previous one are removed
  (the previous one stays for readers that read the old manifest a moment ago).
  Last writer wins when two processes save to the same prefix at once.
* :func:`read_manifest` / :func:`read_file` / :func:`download` read *through* the manifest:
  only the files it names, each checked against its size and SHA-256.
* :func:`write_frame` / :func:`read_frame` round-trip a DataFrame (embedding columns as Arrow
  ``fixed_size_list<float32>[d]``) through parquet with ``df.attrs["vecnb"]`` intact: the
  vecnb metadata is stored both where pandas keeps ``attrs`` and under its own ``vecnb`` key
  of the parquet schema metadata, so other parquet writers / readers cannot drop it silently.
* :func:`redact` removes credentials from any text shown to a user. Credentials come from the
  usual places (environment, ``~/.aws`` profiles, instance roles) or ``storage_options=``; every
  error raised here goes through :func:`redact` (URL passwords, signed-URL query parameters,
  ``Credential=`` / ``Signature=`` fragments, and the literal values of secret environment
  variables and secret ``storage_options``), and :class:`Location` reprs show only the URL.

Errors: a missing object raises ``FileNotFoundError``; a URL whose protocol needs a package
raises :class:`~vecnb.errors.MissingDependencyError`; unreachable endpoints and refused
credentials raise :class:`~vecnb.errors.StoreConnectionError`; a prefix without a valid
manifest raises :class:`~vecnb.errors.IndexFormatError`; other failures
:class:`~vecnb.errors.StoreError` (``store="storage"``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from vecnb.errors import (
    IndexFormatError,
    InvalidInputError,
    MissingDependencyError,
    StoreConnectionError,
    StoreError,
    VecnbError,
)

__all__ = [
    "Location",
    "location",
    "redact",
    "write_files",
    "read_manifest",
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


def redact(text: Any, storage_options: Mapping[str, Any] | None = None) -> str:
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
    """
    s = str(text)
    for secret in _secret_values(storage_options):
        s = s.replace(secret, _MASK)
    s = _URL_USERINFO.sub(lambda m: m.group("scheme") + _MASK + "@", s)
    s = _QUERY_SECRET.sub(lambda m: m.group("key") + _MASK, s)
    s = _AUTH_FRAGMENT.sub(lambda m: m.group("key") + _MASK, s)
    return s


# ------------------------------------------------------------------------------ locations
class Location:
    """A folder / prefix on some fsspec file system: ``fs`` + ``root``, with a safe repr.

    Build with :func:`location`. ``str()`` and ``repr()`` show the redacted URL only, never
    the storage options.
    """

    def __init__(self, fs: Any, root: str, url: str, storage_options: Mapping[str, Any] | None = None):
        self.fs = fs
        self.root = root.rstrip("/") if root not in ("/", "") else root
        self._url = url
        self._options = dict(storage_options or {})

    @property
    def url(self) -> str:
        """The URL as shown to users (credentials redacted)."""
        return redact(self._url, self._options)

    @property
    def is_local(self) -> bool:
        """True for the local file system (atomic ``os.replace`` available)."""
        proto = self.fs.protocol
        protos = (proto,) if isinstance(proto, str) else tuple(proto)
        return "file" in protos or "local" in protos

    def path(self, name: str = "") -> str:
        """The fsspec path of ``name`` under the root."""
        if not name:
            return self.root
        return f"{self.root}/{name}" if self.root else name

    def redact(self, text: Any) -> str:
        """:func:`redact` with this location's storage options."""
        return redact(text, self._options)

    def __repr__(self) -> str:
        return f"<vecnb.storage.Location {self.url}>"

    def __str__(self) -> str:
        return self.url

    @contextmanager
    def errors(self, operation: str, target: str | None = None) -> Iterator[None]:
        """Turn backend exceptions into vecnb errors with redacted messages."""
        try:
            yield
        except VecnbError:
            raise
        except FileNotFoundError as exc:
            msg = str(exc)
            if "://" not in msg and " at " not in msg:  # a bare back-end path: say what was looked for
                msg = f"{operation}: nothing at {target or self.url} ({msg})"
            raise FileNotFoundError(self.redact(msg)) from None
        except Exception as exc:  # noqa: BLE001 - every backend has its own exception tree
            raise _translate(exc, operation, target or self.url, self._options) from None


def location(url: str | os.PathLike | Location, storage_options: Mapping[str, Any] | None = None) -> Location:
    """Resolve a path or fsspec URL to a :class:`Location`.

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
    """
    if isinstance(url, Location):
        return url
    if not isinstance(url, (str, os.PathLike)):
        raise InvalidInputError(f"Expected a path or fsspec URL, got {type(url).__name__}.")
    raw = os.fspath(url)
    if not raw:
        raise InvalidInputError("Empty path; pass a folder, a file or an fsspec URL such as 's3://bucket/prefix'.")
    if "://" not in raw:
        raw = os.path.expanduser(raw)
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec is in the s3 extra
        raise MissingDependencyError.for_extra("Reading and writing URLs", "s3", exc.name) from None
    try:
        fs, root = fsspec.core.url_to_fs(raw, **dict(storage_options or {}))
    except ImportError as exc:
        proto = raw.split("://", 1)[0] if "://" in raw else "file"
        raise MissingDependencyError(redact(
            f"{proto}:// URLs need an fsspec back-end that is not installed ({exc}). "
            f'Install it with: pip install "vecnb[{_EXTRA_FOR.get(proto, "s3")}]" (s3fs) or the package named above.',
            storage_options)) from None
    except ValueError as exc:
        raise InvalidInputError(redact(f"Cannot use {raw}: {exc}", storage_options)) from None
    return Location(fs, root, raw, storage_options)


def _translate(exc: BaseException, operation: str, target: str, options: Mapping[str, Any]) -> StoreError:
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
        return StoreConnectionError(redact(msg, options), store="storage", operation=operation)
    if unreachable:
        msg = (f"{operation} {target}: cannot reach the storage service ({text}). Check the network and the "
               "endpoint (AWS_ENDPOINT_URL / storage_options={'client_kwargs': {'endpoint_url': ...}}).")
        return StoreConnectionError(redact(msg, options), store="storage", operation=operation)
    return StoreError(redact(f"{operation} {target} failed: {text}", options), store="storage", operation=operation)


# ------------------------------------------------------------------------------ helpers
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: str) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def _check_name(name: str, what: str = "file name") -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or any(p in (".", "..") for p in name.split("/")):
        raise InvalidInputError(
            f"{what} {name!r} is not allowed: use relative names of letters, digits, '.', '_', '-' "
            "separated by '/', without '..'."
        )
    return name


def put_bytes(loc: Location, path: str, data: bytes) -> None:
    """Write one object / file so that it appears whole (tmp + replace locally, one PUT remotely)."""
    fs = loc.fs
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
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    else:
        fs.pipe_file(path, data)


def _new_version() -> str:
    return f"v-{time.time_ns():019d}-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------------------ multi-file sets
def write_files(url: str | os.PathLike | Location, files: Mapping[str, Any], *, meta: Mapping[str, Any] | None = None,
                manifest: str = MANIFEST, storage_options: Mapping[str, Any] | None = None,
                prune: bool = True) -> dict[str, Any]:
    """Write a set of files under ``url`` atomically: the files first, the manifest last.

    Parameters
    ----------
    url : str, os.PathLike or Location
        The prefix (a folder, ``s3://bucket/prefix``...). Created when missing.
    files : mapping of str to bytes, local path, or callable
        ``name -> content``. Names are relative (``"frame.parquet"``, ``"store/vectors.npy"``).
        A ``bytes`` value is written as is; a ``pathlib.Path`` (or ``str``) names a local file to
        upload (streamed, for big files); a callable receives a writable binary file object.
    meta : mapping, optional
        JSON-able data stored in the manifest under ``"meta"`` (what the files are).
    manifest : str
        The manifest's file name.
    storage_options : mapping, optional
        fsspec options (see :func:`location`).
    prune : bool
        Remove version folders older than the previous one after the switch.

    Returns
    -------
    dict
        The manifest written (``version``, ``files`` with ``size`` / ``sha256``, ``meta``).

    Raises
    ------
    IndexFormatError
        ``url`` is a non-empty folder whose manifest is missing or is not a vecnb manifest
        (vecnb never writes into a folder it does not own).
    """
    loc = location(url, storage_options)
    _check_name(manifest, "manifest name")
    if not files:
        raise InvalidInputError("write_files needs at least one file.")
    for name in files:
        _check_name(name)
    try:
        meta_json = json.loads(json.dumps(dict(meta or {})))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"meta must be JSON-serialisable: {exc}") from None
    fs = loc.fs
    man_path = loc.path(manifest)
    previous = None
    with loc.errors("write", loc.url):
        if fs.exists(man_path):
            previous = _parse_manifest(fs.cat_file(man_path), loc, manifest)
        elif fs.exists(loc.root) and fs.isdir(loc.root):
            others = [p for p in fs.ls(loc.root, detail=False) if p.rstrip("/").rsplit("/", 1)[-1] != ""]
            if others:
                raise IndexFormatError(loc.redact(
                    f"{loc.url} is a non-empty folder without a vecnb {manifest}; refusing to write into it. "
                    "Choose a new or empty folder / prefix."))
        elif fs.exists(loc.root):
            raise IndexFormatError(loc.redact(f"{loc.url} is a file; pass a folder / prefix to write into."))
        version = _new_version()
        entries: dict[str, dict[str, Any]] = {}
        for name, content in files.items():
            target = loc.path(f"{version}/{name}")
            if isinstance(content, (bytes, bytearray, memoryview)):
                data = bytes(content)
                put_bytes(loc, target, data)
                entries[name] = {"size": len(data), "sha256": _sha256(data)}
            elif isinstance(content, (str, os.PathLike)):
                src = os.fspath(content)
                if not os.path.isfile(src):
                    raise InvalidInputError(f"write_files: {name!r} names local file {src!r}, which does not exist.")
                size, digest = _file_sha256(src)
                if loc.is_local:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    import shutil

                    shutil.copyfile(src, target)
                else:
                    fs.put_file(src, target)
                entries[name] = {"size": size, "sha256": digest}
            elif callable(content):
                buf = io.BytesIO()
                content(buf)
                data = buf.getvalue()
                put_bytes(loc, target, data)
                entries[name] = {"size": len(data), "sha256": _sha256(data)}
            else:
                raise InvalidInputError(
                    f"write_files: {name!r} must be bytes, a local file path or a callable, got {type(content).__name__}."
                )
        doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "version": version,
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": entries, "meta": meta_json}
        put_bytes(loc, man_path, json.dumps(doc, indent=1, sort_keys=True).encode("utf-8"))
        if prune:
            _prune(loc, keep={version, previous["version"] if previous else version},
                   older_than=previous["version"] if previous else version)
    return doc


def _prune(loc: Location, keep: set[str], older_than: str) -> None:
    """Remove version folders not in ``keep`` that were started before ``older_than``."""
    fs = loc.fs
    try:
        fs.invalidate_cache(loc.root)
        entries = fs.ls(loc.root, detail=False)
    except Exception:  # pragma: no cover - clean-up is best effort
        return
    limit = int(_VERSION_RE.match(older_than).group(1)) if _VERSION_RE.match(older_than) else 0
    for entry in entries:
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        m = _VERSION_RE.match(name)
        if not m or name in keep or int(m.group(1)) > limit:
            continue
        try:
            fs.rm(entry, recursive=True)
        except Exception:  # pragma: no cover - best effort; a later save retries
            pass


def _parse_manifest(raw: bytes, loc: Location, manifest: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise IndexFormatError(loc.redact(f"{loc.url}/{manifest} is not valid JSON ({exc}).")) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise IndexFormatError(loc.redact(
            f"{loc.url}/{manifest} is not a vecnb manifest (format {doc.get('format') if isinstance(doc, dict) else None!r})."))
    if not isinstance(doc.get("format_version"), int) or doc["format_version"] > FORMAT_VERSION:
        raise IndexFormatError(loc.redact(
            f"{loc.url}/{manifest} has format version {doc.get('format_version')!r}; this vecnb reads up to "
            f"{FORMAT_VERSION}. Upgrade vecnb."))
    version = doc.get("version")
    if not isinstance(version, str) or not _VERSION_RE.match(version) or not isinstance(doc.get("files"), dict):
        raise IndexFormatError(loc.redact(f"{loc.url}/{manifest} is damaged (no valid version / files)."))
    for name in doc["files"]:
        _check_name(name)
    return doc


def read_manifest(url: str | os.PathLike | Location, *, manifest: str = MANIFEST,
                  storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read and validate the manifest written by :func:`write_files`.

    Raises
    ------
    FileNotFoundError
        Nothing at ``url``.
    IndexFormatError
        ``url`` exists but has no valid vecnb manifest.
    """
    loc = location(url, storage_options)
    fs = loc.fs
    with loc.errors("read", loc.url):
        try:
            raw = fs.cat_file(loc.path(manifest))
        except FileNotFoundError:
            if fs.exists(loc.root):
                raise IndexFormatError(loc.redact(
                    f"{loc.url} holds no vecnb {manifest}; it was not written by vecnb (or the write never finished)."
                )) from None
            raise FileNotFoundError(loc.redact(f"Nothing at {loc.url}.")) from None
        return _parse_manifest(raw, loc, manifest)


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
    """
    loc = location(url, storage_options)
    doc = dict(manifest) if manifest is not None else read_manifest(loc)
    entry = doc["files"].get(name)
    if entry is None:
        raise KeyError(f"{name!r} is not in the manifest of {loc.url}; it lists {sorted(doc['files'])}.")
    path = loc.path(f"{doc['version']}/{name}")
    with loc.errors("read", f"{loc.url}/{doc['version']}/{name}"):
        try:
            data = loc.fs.cat_file(path)
        except FileNotFoundError:
            raise IndexFormatError(loc.redact(
                f"{loc.url}: the manifest names {doc['version']}/{name}, which is missing (removed by a newer save "
                "or a partial copy). Read the manifest again.")) from None
    if verify and (len(data) != entry.get("size") or _sha256(data) != entry.get("sha256")):
        raise IndexFormatError(loc.redact(
            f"{loc.url}: {doc['version']}/{name} does not match its manifest (size / SHA-256); the copy is damaged."))
    return data


def download(url: str | os.PathLike | Location, dest: str | os.PathLike, *, manifest: Mapping[str, Any] | None = None,
             verify: bool = True, storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Copy every file of the set at ``url`` into local folder ``dest`` (created); return the manifest."""
    loc = location(url, storage_options)
    doc = dict(manifest) if manifest is not None else read_manifest(loc)
    dest = os.fspath(dest)
    for name, entry in doc["files"].items():
        out = os.path.join(dest, *name.split("/"))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        src = loc.path(f"{doc['version']}/{name}")
        with loc.errors("download", f"{loc.url}/{doc['version']}/{name}"):
            try:
                loc.fs.get_file(src, out)
            except FileNotFoundError:
                raise IndexFormatError(loc.redact(
                    f"{loc.url}: the manifest names {doc['version']}/{name}, which is missing.")) from None
        if verify:
            size, digest = _file_sha256(out)
            if size != entry.get("size") or digest != entry.get("sha256"):
                raise IndexFormatError(loc.redact(f"{loc.url}: {doc['version']}/{name} does not match its manifest."))
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
