"""Turning a task group's ``ExceptionGroup`` back into the failure that caused it.

When one part of a pipeline fails, its siblings are cancelled and anyio
wraps the failure in an exception group.  Callers of a pipeline want the
cause (``StorageError``, ``BrokenOutput``...), so pipelines re-raise the first
non-cancellation leaf, keeping the group as ``__cause__`` for the log.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

if sys.version_info < (3, 11):  # pragma: no cover - exercised on old Pythons only
    from exceptiongroup import BaseExceptionGroup

__all__ = ["first_failure", "first_leaf"]


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def first_leaf(error: BaseException) -> BaseException:
    """The first exception inside ``error`` that is not a group (``error`` itself if it is none)."""
    return next(_leaves(error), error)


@contextmanager
def first_failure() -> Iterator[None]:
    """Re-raise the first real failure out of an exception group."""
    try:
        yield
    except BaseExceptionGroup as group:
        import anyio  # here, so the CLI's answer-only verbs do not pay for it

        cancelled = anyio.get_cancelled_exc_class()
        for leaf in _leaves(group):
            if not isinstance(leaf, cancelled):
                raise leaf from group
        raise
