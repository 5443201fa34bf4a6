"""A small Elasticsearch EMULATOR for tests -- not Elasticsearch.

No Elasticsearch server can be installed on the machines that build vecnb, so the
conformance suite runs the Elasticsearch store against this stand-in (test ids say
``Emulator``); with ``VECNB_ES_URL`` set it runs against the real server instead. It speaks the
REST subset the store uses, with Elasticsearch's response shapes: ``/``, index create / exists /
delete, ``_mapping``, ``_bulk``, ``_refresh``, ``_count``, ``_mget``, ``_search`` (sort +
``search_after``), ``_msearch`` with ``knn`` (brute force, the documented score transforms
computed in float32) and bool / term / terms / range / exists / match queries (a plain BM25),
``_aliases`` (add / remove / remove_index, applied together) and bulk ``create`` (409 when
the id exists).
Its numbers (speed, BM25 scores) say nothing about Elasticsearch.
"""

from __future__ import annotations

import json
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

_MISSING = object()


def _get(obj: dict, path: str):
    """Value at a dotted field path; source keys may themselves hold dots (``{"a.b": 1}``)."""
    if path in obj:
        return obj[path]
    parts = path.split(".")
    for i in range(1, len(parts)):
        head = ".".join(parts[:i])
        if isinstance(obj.get(head), dict):
            found = _get(obj[head], ".".join(parts[i:]))
            if found is not _MISSING:
                return found
    return _MISSING


def _eq(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b  # exact (Python compares int and float exactly); a double field's values are floats already
    return a == b


def _eq_key(a):
    """A hashable key with ``_eq``'s meaning: booleans apart from numbers, numbers by float value."""
    if isinstance(a, bool):
        return ("b", a)
    if isinstance(a, (int, float)):
        return ("n", a)  # 3 and 3.0 are one key; ints past 2**53 stay apart
    return ("s", a) if isinstance(a, str) else ("o", repr(a))


def _as_type(v, ftype: str | None):
    """The value a field of mapping type ``ftype`` indexed for source value ``v`` (as the server:
    a ``double`` field holds the nearest double, so ints past 2**53 round; a ``long`` holds the
    exact int, a float's fraction truncated by ``coerce``)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return v
    if ftype == "double":
        return float(v)
    if ftype == "long":
        return int(v)
    return v


def _query_value(x, ftype: str | None):
    """A term / range value as a field of type ``ftype`` reads it: a double field parses it as
    a double; a long field keeps it exact (Elasticsearch's long queries compare fractional bounds
    mathematically: ``gt 2.5`` is ``gte 3``, a ``term`` with a fraction matches nothing)."""
    if ftype == "double" and isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    return x


def _cmp_ok(v, op: str, x) -> bool:
    if isinstance(v, bool) or isinstance(x, bool):
        return False
    if isinstance(v, str) != isinstance(x, str):
        return False
    if isinstance(v, str):
        v, x = v.encode(), x.encode()  # keyword fields compare as UTF-8 bytes
    return {"gt": v > x, "gte": v >= x, "lt": v < x, "lte": v <= x}[op]


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class _Index:
    def __init__(self, body: dict):
        self.mappings = body.get("mappings", {})
        self.docs: dict[str, dict] = {}
        self.visible: dict[str, dict] = {}  # what searches see (after a refresh)
        self.types: dict[str, str] = {}  # "metadata.x" -> mapping type (explicit or dynamic)
        for name, spec in (self.mappings.get("properties", {}).get("metadata", {}).get("properties") or {}).items():
            self.types[f"metadata.{name}"] = spec.get("type")

    def put_properties(self, props: dict) -> tuple[int, dict] | None:
        """Merge a put-mapping's ``properties``; a field's type cannot change (the server's 400)."""
        meta = (props.get("metadata") or {}).get("properties") or {}
        for name, spec in meta.items():
            have = self.types.get(f"metadata.{name}")
            if have is not None and have != spec.get("type"):
                return 400, _err("illegal_argument_exception",
                                 f"mapper [metadata.{name}] cannot be changed from type [{have}] to [{spec.get('type')}]")
        for name, spec in meta.items():
            self.types[f"metadata.{name}"] = spec.get("type")
            self.mappings.setdefault("properties", {}).setdefault("metadata", {"type": "object"}) \
                .setdefault("properties", {})[name] = dict(spec)
        return None

    def map_dynamic(self, src: dict) -> str | None:
        """Dynamic mapping of a document's new ``metadata`` fields through the index's templates
        (JSON int -> ``long`` template, float -> ``double``, string -> ``string``, bool ->
        ``boolean``); returns an indexing error for a value its field's type refuses."""
        md = src.get("metadata")
        if not isinstance(md, dict):
            return None
        templates = {}
        for t in self.mappings.get("dynamic_templates", []):
            (_, spec), = t.items()
            templates[spec.get("match_mapping_type")] = spec["mapping"]["type"]
        for name, v in md.items():
            path = f"metadata.{name}"
            ftype = self.types.get(path)
            if ftype is None:
                json_type = ("boolean" if isinstance(v, bool) else "long" if isinstance(v, int) else
                             "double" if isinstance(v, float) else "string" if isinstance(v, str) else None)
                if json_type is None:
                    continue
                ftype = self.types[path] = templates.get(json_type, {"string": "text"}.get(json_type, json_type))
                self.mappings.setdefault("properties", {}).setdefault("metadata", {"type": "object"}) \
                    .setdefault("properties", {})[name] = {"type": ftype}
            if ftype == "long" and isinstance(v, (int, float)) and not isinstance(v, bool) \
                    and not -2**63 <= int(v) < 2**63:
                return f"Value [{v}] is out of range for a long"
        return None

    @property
    def vector(self) -> dict | None:
        return self.mappings.get("properties", {}).get("vector")

    def refresh(self) -> None:
        self.visible = dict(self.docs)


class Emulator:
    """State of the emulated cluster; ``handle(method, path, query, body)`` -> (status, json)."""

    def __init__(self):
        self.indices: dict[str, _Index] = {}
        self.aliases: dict[str, str] = {}  # alias -> concrete index
        self.lock = threading.Lock()
        self._terms: dict[int, tuple] = {}
        self._types: dict[str, str] = {}  # the searched index's field types (set per search, under the lock)

    # ------------------------------------------------------------------ queries
    def matches(self, q: dict | None, doc: dict) -> bool:
        if not q:
            return True
        (kind, arg), = q.items()
        if kind == "match_all":
            return True
        if kind == "match_none":
            return False
        types = self._types
        if kind == "term":
            (f, v), = arg.items()
            got = _get(doc, f)
            t = types.get(f)
            return got is not _MISSING and _eq(_as_type(got, t), _query_value(v, t))
        if kind == "terms":
            (f, vs), = arg.items()
            got = _get(doc, f)
            if got is _MISSING:
                return False
            t = types.get(f)
            cached = self._terms.get(id(vs))
            if cached is None or cached[0] is not vs:  # one set per terms list (lists of thousands)
                cached = self._terms[id(vs)] = (vs, {_eq_key(_query_value(v, t)) for v in vs})
            return _eq_key(_as_type(got, t)) in cached[1]
        if kind == "range":
            (f, ops), = arg.items()
            got = _get(doc, f)
            t = types.get(f)
            return got is not _MISSING and all(_cmp_ok(_as_type(got, t), op, _query_value(x, t))
                                               for op, x in ops.items())
        if kind == "exists":
            return _get(doc, arg["field"]) is not _MISSING
        if kind == "match":
            (f, spec), = arg.items()
            words = set(_tokens(spec["query"]))
            have = set(_tokens(_get(doc, f) or "")) if _get(doc, f) is not _MISSING else set()
            return bool(words) and (words <= have if spec.get("operator") == "and" else bool(words & have))
        if kind == "bool":
            ok = all(self.matches(c, doc) for c in arg.get("must", []) + arg.get("filter", []))
            ok = ok and not any(self.matches(c, doc) for c in arg.get("must_not", []))
            should = arg.get("should", [])
            if should:
                need = arg.get("minimum_should_match", 0 if arg.get("must") or arg.get("filter") else 1)
                if ok and need > 0:  # stop at the need-th match (filters may have hundreds of branches)
                    hits = 0
                    for c in should:
                        hits += self.matches(c, doc)
                        if hits >= need:
                            break
                    ok = hits >= need
            return ok
        raise ValueError(f"emulator: unsupported query {kind!r}")

    def _match_of(self, q: dict) -> dict | None:
        (kind, arg), = q.items()
        if kind == "match":
            return arg
        if kind == "bool":
            for c in arg.get("must", []):
                m = self._match_of(c)
                if m is not None:
                    return m
        return None

    def _bm25(self, idx: _Index, docs: list[tuple[str, dict]], spec: dict) -> dict[str, float]:
        (f, s), = spec.items()
        words = _tokens(s["query"])
        all_docs = [_tokens(d.get("text", "")) for d in idx.visible.values() if "text" in d]
        n = len(all_docs)
        avg = sum(map(len, all_docs)) / n if n else 1.0
        df = {w: sum(w in set(t) for t in all_docs) for w in set(words)}
        out = {}
        for _id, d in docs:
            toks = _tokens(d.get("text", ""))
            score = 0.0
            for w in set(words):
                tf = toks.count(w)
                if tf:
                    idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
                    score += idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * len(toks) / avg))
            out[_id] = float(np.float32(score))
        return out

    def knn_scores(self, idx: _Index, docs: list[tuple[str, dict]], qv: list[float]) -> dict[str, float]:
        """Brute-force similarity, Lucene's score transforms, float32 like the server."""
        if not docs:
            return {}
        sim = idx.vector["similarity"]
        q = np.asarray(qv, dtype=np.float32)
        X = np.asarray([d["vector"] for _, d in docs], dtype=np.float32)
        if sim == "l2_norm":
            s = 1 / (1 + ((X - q) ** 2).sum(axis=1))
        else:
            dot = X @ q
            if sim == "cosine":
                s = (1 + dot / (np.linalg.norm(X, axis=1) * np.linalg.norm(q))) / 2
            elif sim == "dot_product":
                s = np.maximum((1 + dot) / 2, 0)
            else:  # max_inner_product
                s = np.where(dot < 0, 1 / (1 - np.minimum(dot, 0)), dot + 1)
        s = s.astype(np.float32)
        return {_id: float(v) for (_id, _), v in zip(docs, s, strict=True)}

    def _filter_docs(self, name: str, flt: dict | None, docs: list) -> list:
        cache = getattr(self, "_filtered", None)
        key = (name, json.dumps(flt, sort_keys=True)) if cache is not None else None
        if key is not None and key in cache:
            return cache[key]
        out = [(i, d) for i, d in docs if self.matches(flt, d)]
        if key is not None:
            cache[key] = out
        return out

    def search(self, name: str, body: dict) -> tuple[int, dict]:
        name = self.aliases.get(name, name)
        idx = self.indices.get(name)
        if idx is None:
            return 404, _err("index_not_found_exception", f"no such index [{name}]")
        size = int(body.get("size", 10))
        self._types = idx.types
        docs = list(idx.visible.items())
        if "knn" in body:
            knn = body["knn"]
            if knn["num_candidates"] < knn["k"]:
                return 400, _err("illegal_argument_exception", "[num_candidates] cannot be less than [k]")
            docs = self._filter_docs(name, knn.get("filter"), docs)
            scores = self.knn_scores(idx, docs, knn["query_vector"])
            ranked = sorted(scores, key=lambda i: -scores[i])[: min(size, knn["k"])]
            hits = [{"_index": name, "_id": i, "_score": scores[i]} for i in ranked]
        elif "sort" in body:
            (field, order), = body["sort"][0].items()
            docs = [(i, d) for i, d in docs if self.matches(body.get("query"), d)]
            docs.sort(key=lambda t: t[1][field], reverse=order == "desc")
            if "search_after" in body:
                docs = [t for t in docs if t[1][field] > body["search_after"][0]]
            hits = [{"_index": name, "_id": i, "_score": None, "sort": [d[field]]} for i, d in docs[:size]]
            if body.get("_source", True) is not False:
                for h, (_, d) in zip(hits, docs):
                    h["_source"] = d
        else:
            query = body.get("query", {"match_all": {}})
            docs = [(i, d) for i, d in docs if self.matches(query, d)]
            spec = self._match_of(query)
            scores = self._bm25(idx, docs, spec) if spec else {i: 1.0 for i, _ in docs}
            ranked = sorted(scores, key=lambda i: -scores[i])[:size]
            hits = [{"_index": name, "_id": i, "_score": scores[i]} for i in ranked]
        return 200, {"took": 1, "timed_out": False, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                     "hits": {"total": {"value": len(hits), "relation": "eq"}, "max_score": None, "hits": hits}}

    # ------------------------------------------------------------------ writes
    def bulk(self, lines: list[dict], refresh: bool) -> dict:
        items, errors = [], False
        i = 0
        while i < len(lines):
            (op, meta), = lines[i].items()
            name, _id = self.aliases.get(meta["_index"], meta["_index"]), str(meta["_id"])
            idx = self.indices.get(name)
            if op == "delete":
                i += 1
                if idx is not None and _id in idx.docs:
                    del idx.docs[_id]
                    items.append({"delete": {"_index": name, "_id": _id, "status": 200, "result": "deleted"}})
                else:
                    items.append({"delete": {"_index": name, "_id": _id, "status": 404, "result": "not_found"}})
                continue
            src = lines[i + 1]
            i += 2
            problem = None
            if idx is None:
                problem = ("index_not_found_exception", f"no such index [{name}]")
            elif op == "create" and _id in idx.docs:
                errors = True
                items.append({"create": {"_index": name, "_id": _id, "status": 409, "error": {
                    "type": "version_conflict_engine_exception",
                    "reason": f"[{_id}]: version conflict, document already exists"}}})
                continue
            elif idx.vector is not None:
                vec = idx.vector
                if len(src.get("vector", [])) != vec["dims"]:
                    problem = ("document_parsing_exception",
                               f"The [dense_vector] field [vector] has a different number of dimensions "
                               f"[{len(src.get('vector', []))}] than defined in the mapping [{vec['dims']}]")
                elif vec["similarity"] == "dot_product" and abs(np.linalg.norm(src["vector"]) - 1) > 1e-4:
                    problem = ("document_parsing_exception", "The [dot_product] similarity can only be used with "
                               "unit-length vectors.")
            if problem is None:
                bad = idx.map_dynamic(src)
                if bad:
                    problem = ("document_parsing_exception", bad)
            if problem:
                errors = True
                items.append({"index": {"_index": name, "_id": _id, "status": 400,
                                        "error": {"type": problem[0], "reason": problem[1]}}})
                continue
            created = _id not in idx.docs
            idx.docs[_id] = src
            items.append({"index": {"_index": name, "_id": _id, "status": 201 if created else 200,
                                    "result": "created" if created else "updated"}})
        if refresh:
            for idx in self.indices.values():
                idx.refresh()
        return {"took": 1, "errors": errors, "items": items}

    # ------------------------------------------------------------------ routing
    def handle(self, method: str, path: str, query: dict, body: bytes) -> tuple[int, dict | None]:
        parts = [p for p in path.split("/") if p]
        with self.lock:
            if not parts:
                return 200, {"name": "vecnb-es-emulator", "cluster_name": "emulator",
                             "version": {"number": "9.0.0", "build_flavor": "default"},
                             "tagline": "You Know, for Search"}
            if parts == ["_bulk"] or parts[-1:] == ["_bulk"]:
                lines = [json.loads(x) for x in body.splitlines() if x.strip()]
                return 200, self.bulk(lines, query.get("refresh", ["false"])[0] in ("true", "wait_for", ""))
            if parts == ["_aliases"] and method == "POST":
                return self.update_aliases(json.loads(body)["actions"])
            if parts == ["_msearch"]:
                lines = [json.loads(x) for x in body.splitlines() if x.strip()]
                responses = []
                self._filtered = {}  # one request's searches share their filter's result (no writes between)
                try:
                    for header, sbody in zip(lines[::2], lines[1::2], strict=True):
                        status, res = self.search(header["index"], sbody)
                        responses.append(dict(res, status=status) if status == 200 else dict(res, status=status))
                finally:
                    self._filtered = None
                return 200, {"took": 1, "responses": responses}
            name = parts[0]
            if name in self.aliases and parts[1:]:
                name = self.aliases[name]
            idx = self.indices.get(name)
            rest = parts[1:]
            if not rest:
                if method == "HEAD":
                    return (200 if idx or name in self.aliases else 404), None
                if method == "DELETE" and name in self.aliases:
                    return 400, _err("illegal_argument_exception", f"The provided expression [{name}] matches an "
                                     "alias, specify the corresponding concrete indices instead.")
                if method == "PUT":
                    if idx is not None or name in self.aliases:
                        return 400, _err("resource_already_exists_exception", f"index [{name}] already exists")
                    self.indices[name] = _Index(json.loads(body or b"{}"))
                    return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
                if method == "DELETE":
                    if idx is None:
                        return 404, _err("index_not_found_exception", f"no such index [{name}]")
                    del self.indices[name]
                    self.aliases = {a: c for a, c in self.aliases.items() if c != name}
                    return 200, {"acknowledged": True}
            if idx is None:
                return 404, _err("index_not_found_exception", f"no such index [{name}]")
            if rest == ["_mapping"]:
                if method == "GET":
                    return 200, {name: {"mappings": idx.mappings}}
                put = json.loads(body)
                refused = idx.put_properties(put.get("properties") or {})
                if refused:
                    return refused
                idx.mappings["_meta"] = put.get("_meta", idx.mappings.get("_meta"))
                return 200, {"acknowledged": True}
            if rest == ["_refresh"]:
                idx.refresh()
                return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
            if rest == ["_count"]:
                return 200, {"count": len(idx.visible), "_shards": {"total": 1, "successful": 1, "failed": 0}}
            if rest == ["_mget"]:
                ids = json.loads(body)["ids"]
                include = query.get("_source_includes", [None])[0]
                docs = []
                for i in ids:
                    d = idx.docs.get(str(i))
                    if d is None:
                        docs.append({"_index": name, "_id": str(i), "found": False})
                    else:
                        src = ({include: d[include]} if include in d else {}) if include else d
                        docs.append({"_index": name, "_id": str(i), "found": True, "_source": src})
                return 200, {"docs": docs}
            if rest == ["_search"]:
                return self.search(name, json.loads(body or b"{}"))
        return 400, _err("emulator_unsupported", f"{method} {path} is not emulated")


    def update_aliases(self, actions: list[dict]) -> tuple[int, dict]:
        """``POST /_aliases``: all actions are checked first, then applied together (atomic, as on the server)."""
        for action in actions:
            (op, arg), = action.items()
            if op in ("add", "remove_index") and arg["index"] not in self.indices:
                return 404, _err("index_not_found_exception", f"no such index [{arg['index']}]")
        aliases, indices = dict(self.aliases), dict(self.indices)
        for action in actions:
            (op, arg), = action.items()
            if op == "remove_index":
                del indices[arg["index"]]
                aliases = {a: c for a, c in aliases.items() if c != arg["index"]}
            elif op == "add":
                aliases[arg["alias"]] = arg["index"]
            elif op == "remove":
                aliases.pop(arg["alias"], None)
            else:
                return 400, _err("emulator_unsupported", f"alias action {op!r} is not emulated")
        clash = set(aliases) & set(indices)
        if clash:
            return 400, _err("invalid_alias_name_exception", f"an index exists with the same name as the alias {clash}")
        self.aliases, self.indices = aliases, indices
        return 200, {"acknowledged": True}


def _err(kind: str, reason: str) -> dict:
    return {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
            "status": 400}


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator

    def _serve(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            status, payload = self.emulator.handle(self.command, url.path, parse_qs(url.query, keep_blank_values=True),
                                                   body)
        except Exception as exc:  # an emulator bug must show up as a server error, not hang
            status, payload = 500, _err("emulator_error", f"{type(exc).__name__}: {exc}")
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", "application/vnd.elasticsearch+json;compatible-with=9")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    def log_message(self, *args) -> None:
        pass


def start() -> tuple[str, callable]:
    """Start the emulator on 127.0.0.1 (a free port); returns ``(url, stop)``."""
    handler = type("Handler", (_Handler,), {"emulator": Emulator()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="es-emulator")
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}", stop
