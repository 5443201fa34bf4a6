"""Credentials out of every message: the secrets a URL carries, and a scrubber for any text.

A driver's error may quote the URL it was given, or a fragment of it, in ways no URL pattern
recognises: an unencoded ``%`` in a password (``postgresql://u:s3cret%zz@h/db``: libpq quotes
``"s3cret%zz"`` alone), a malformed host (``postgres://u:pw@[127.0.0.1:1/db``: urllib cannot
parse it at all), an S3 URL whose user-info became a "bucket name" (``KEY:SECRET@bucket``).
So the secrets are read out of the URL *by hand* (without ``urllib``, which refuses malformed
URLs) and every literal form of them is masked wherever it appears, before the usual URL
pattern masks any remaining ``scheme://user:password@``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

__all__ = ["MASK", "scrub", "url_secrets"]

MASK = "***"
_SECRET_PARAMS = r"password|passwd|pwd|sslpassword|api_key|apikey|token|access_token|secret|sig|signature"
_QUERY = re.compile(rf"(?i)(?:[?&;]|^)(?:{_SECRET_PARAMS})=([^&#\s'\"]*)")
_CONNINFO = re.compile(r"(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^/@\s:'\"]*)(?P<rest>:[^/@\s'\"]*)?@")


def url_secrets(url: Any, *, user_is_secret: bool = False) -> list[str]:
    """Every literal form of the secrets in ``url`` (URL or libpq ``key=value`` string).

    Parameters
    ----------
    user_is_secret : bool
        Also treat the user name as secret (object-store URLs put an access key id there).

    Returns
    -------
    list of str
        Raw, percent-decoded and percent-encoded forms of the password (and of the whole
        user-info with ``user_is_secret``), of secret query parameters and of a conninfo
        ``password=``; longest first, values shorter than 3 characters left out.
    """
    if not url:
        return []
    s = str(url)
    found: list[str] = []
    if "://" in s:
        after = s.split("://", 1)[1]
        head = re.split(r"[/?#]", after, maxsplit=1)[0]
        if "@" in head:  # the user-info ends at the LAST '@' of the host part (a password may hold '@')
            userinfo = head.rsplit("@", 1)[0]
            user, sep, password = userinfo.partition(":")
            if sep:
                found.append(password)
            if user_is_secret:
                found += [userinfo, user]
        found += _QUERY.findall(s.split("?", 1)[1] if "?" in s else "")
    else:
        found += [m.strip("'") for m in _CONNINFO.findall(s)]
    forms: set[str] = set()
    for f in found:
        for form in (f, unquote(f), quote(f, safe=""), quote(f)):
            if len(form) >= 3:
                forms.add(form)
    return sorted(forms, key=len, reverse=True)


def scrub(text: Any, urls: Iterable[Any] = (), secrets: Iterable[str] = (), *, user_is_secret: bool = False) -> str:
    """``str(text)`` with the secrets of ``urls`` (every form), the literal ``secrets`` and the
    password part of any ``scheme://user:password@`` replaced by ``***``."""
    out = str(text)
    values: set[str] = {s for s in secrets if isinstance(s, str) and len(s) >= 3}
    for url in urls:
        values.update(url_secrets(url, user_is_secret=user_is_secret))
    for v in sorted(values, key=len, reverse=True):
        out = out.replace(v, MASK)
    return _USERINFO.sub(lambda m: m.group("scheme") + (MASK if user_is_secret else m.group("user") + (":" + MASK if m.group("rest") else "")) + "@", out)
