"""A base for objects that are their own context manager: closed when the block ends."""

from __future__ import annotations

import abc
from typing import Self

__all__ = ["Closing"]


class Closing(abc.ABC):
    """``with obj:`` returns ``obj`` and calls :meth:`close` when the block ends, error or not."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release what the object holds (safe to call more than once)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
