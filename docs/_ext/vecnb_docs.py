"""Sphinx extension of the vecnb site: link the guides' inline code to the API reference.

The notebooks name the API the way a user types it (```df.vec.search```, ```idx.run(query)```,
```vecnb.evaluate(run, qrels)```, ```VectorIndex```) and must stay readable in JupyterLab, so
they carry no Sphinx roles. This post-transform turns such inline literals into links to the
reference when, and only when, the name they spell is a documented object:

* ``df.vec.NAME`` -> ``vecnb.VecAccessor.NAME``; ``idx.NAME`` -> ``vecnb.VectorIndex.NAME``;
  ``q.NAME`` / ``Query.NAME`` -> ``vecnb.Query.NAME``;
* ``vecnb.A.B`` as written;
* a bare ``Name`` or ``Name.attr`` that ends exactly one documented name (``SyncReport``,
  ``SqliteStore.open``), if it starts with a capital letter (``search`` or ``k`` stay text).

Call arguments are ignored (```df.vec.hybrid(q, text="text")``` links to ``hybrid``). A literal
that names nothing documented stays plain text, so the transform never adds a broken link.
"""

from __future__ import annotations

import re
from importlib import import_module
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.nodes import make_refnode

_NAME = re.compile(r"^([A-Za-z_][\w.]*?)(\(.*\))?$", re.S)
_PREFIXES = {
    "df.vec.": "vecnb.VecAccessor.",
    "ddf.vec.": "vecnb.VecAccessor.",
    "idx.": "vecnb.VectorIndex.",
    "index.": "vecnb.VectorIndex.",
    "q.": "vecnb.Query.",
    "Query.": "vecnb.Query.",
}
_EXACT = {"df.vec": "vecnb.VecAccessor", "ddf.vec": "vecnb.VecAccessor"}


def api_target(text: str, objects: dict[str, Any], suffixes: dict[str, list[str]]) -> str | None:
    """The documented name an inline literal spells, or ``None``."""
    m = _NAME.match(text.strip())
    if not m:
        return None
    name = m.group(1).rstrip(".")
    if name in _EXACT:
        name = _EXACT[name]
    for prefix, full in _PREFIXES.items():
        if name.startswith(prefix):
            candidate = full + name[len(prefix):]
            return candidate if candidate in objects else None
    if name in objects:
        return name
    if name[:1].isupper():
        found = suffixes.get(name, [])
        if len(found) == 1:
            return found[0]
    return None


class LinkApiLiterals(SphinxPostTransform):
    """Wrap inline literals that name a documented object in a reference to it."""

    default_priority = 5  # before the ReferencesResolver (10) resolves pending_xref nodes
    formats = ("html",)

    def run(self, **kwargs: Any) -> None:
        domain = self.env.get_domain("py")
        objects = {name: entry for name, entry in domain.objects.items() if not entry.aliased}
        suffixes: dict[str, list[str]] = {}
        for full in objects:
            parts = full.split(".")
            for i in range(1, len(parts)):
                suffixes.setdefault(".".join(parts[i:]), []).append(full)
        docname = self.env.docname
        for node in list(self.document.findall(nodes.literal)):
            if isinstance(node.parent, (nodes.reference, addnodes.pending_xref)) or "xref" in node["classes"]:
                continue
            target = api_target(node.astext(), objects, suffixes)
            if target is None or objects[target].docname == docname:
                continue
            xref = addnodes.pending_xref("", refdomain="py", reftype="obj", reftarget=target,
                                         refexplicit=True, refwarn=True, refdoc=docname)
            node.replace_self(xref)
            xref += node


def _lookup(dotted: str) -> Any:
    """The object a dotted path names (``pkg.mod.Class.attr``), or ``_MISSING``."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = import_module(".".join(parts[:cut]))
        except Exception:  # noqa: BLE001 - not a module (or not importable): try a shorter prefix
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return _MISSING
        return obj
    return _MISSING


_MISSING = object()


def _documented_by_identity(env: Any) -> dict[int, str]:
    """id(object) -> the name it is documented under (built once per build)."""
    cache = getattr(env, "_vecnb_by_identity", None)
    domain = env.get_domain("py")
    if cache is None or cache[0] != len(domain.objects):
        table: dict[int, str] = {}
        for name, entry in domain.objects.items():
            if entry.aliased or entry.objtype not in ("function", "class", "exception", "method", "module"):
                continue
            obj = _lookup(name)
            if obj is not _MISSING:
                table.setdefault(id(obj), name)
        cache = env._vecnb_by_identity = (len(domain.objects), table)
    return cache[1]


def resolve_short_name(app: Any, env: Any, node: Any, contnode: nodes.Element) -> nodes.Element | None:
    """``missing-reference``: resolve what docstrings write relative or by an internal path.

    * ``:class:`StoreError``` in ``vecnb.stores.base`` means the one documented
      ``vecnb.errors.StoreError``: a name that ends exactly one documented object links there;
    * ``:func:`vecnb.index.opening.open_index``` is the object documented as ``vecnb.open_index``:
      a path that imports to a documented object links to it;
    * a name that exists but is not in the reference by design (a private helper, an internal
      module) stays text;
    * a name that resolves to nothing (a typo, a function that moved) stays missing, and the
      build fails on it.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    domain = env.get_domain("py")
    found = [name for name, entry in domain.objects.items()
             if not entry.aliased and (name == target or name.endswith("." + target))]
    if len(found) != 1:
        mod, cls = node.get("py:module"), node.get("py:class")
        candidates = [target] + [f"{p}.{target}" for p in filter(None, [mod, mod and cls and f"{mod}.{cls}"])]
        # the module that really defines the documented class (``vecnb.VectorIndex`` lives in
        # ``vecnb.index.core``): its docstrings name their neighbours from there
        home = _lookup(f"{mod}.{cls}") if mod and cls else _MISSING
        if home is not _MISSING and getattr(home, "__module__", None):
            candidates.append(f"{home.__module__}.{target}")
        objs = [o for o in map(_lookup, candidates) if o is not _MISSING]
        if not objs:
            return None
        name = _documented_by_identity(env).get(id(objs[0]))
        if name is None:
            return contnode  # real, but internal: plain text
        found = [name]
    entry = domain.objects[found[0]]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, found[0])


def setup(app: Any) -> dict[str, Any]:
    app.add_post_transform(LinkApiLiterals)
    app.connect("missing-reference", resolve_short_name)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
