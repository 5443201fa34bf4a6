"""Progress bars: one way to make a ``tqdm.auto`` bar (or a silent stand-in) for anything long."""

from __future__ import annotations

from typing import Any

__all__ = ["NoBar", "progress_bar"]


class NoBar:
    """A bar that shows nothing: what :func:`progress_bar` returns when progress is off."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def set_description(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(total: int | None, desc: str, *, enabled: bool = True, unit: str = "rows",
                 **options: Any) -> Any:
    """A ``tqdm.auto`` bar (notebook widget or terminal), or :class:`NoBar` when ``enabled`` is false.

    ``options`` go to tqdm (``initial``, ``leave``, ``unit_scale``, ``dynamic_ncols`` ...).
    """
    if not enabled:
        return NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, **options)
