"""Real faults for tests: an fsspec file system that fails on demand, a severable DB proxy."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
from typing import Any, ClassVar

import fsspec
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

__all__ = ["FailingFileSystem", "SeverableProxy", "failing_storage_url"]


class _FailingFile(MemoryFile):
    """A memory file whose writes raise while its file system says so."""

    def write(self, data: Any) -> int:
        FailingFileSystem.maybe_fail("write")
        return int(super().write(data))


class FailingFileSystem(MemoryFileSystem):
    """fsspec's memory file system, with operations that raise a chosen ``OSError``.

    Set ``FailingFileSystem.faults["write"] = errno.EIO`` (or ``"open"``,
    ``"rm"``, ``"mv"``) to make that operation raise (``0``: a ``TypeError``);
    delete the entry to heal.
    """

    protocol = "failing"
    store: ClassVar[dict[str, Any]] = {}
    pseudo_dirs: ClassVar[list[str]] = [""]
    faults: ClassVar[dict[str, int]] = {}

    @classmethod
    def maybe_fail(cls, operation: str) -> None:
        code = cls.faults.get(operation)
        if code == 0:
            raise TypeError("a bytes-like object is required, not 'alice@example.com'")
        if code is not None:
            if code == errno.ETIMEDOUT:
                raise TimeoutError(code, os.strerror(code))
            if code == errno.ECONNRESET:
                raise ConnectionResetError(code, os.strerror(code))
            raise OSError(code, os.strerror(code), "/srv/secret/alice@example.com")

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        self.maybe_fail("open")
        if mode in ("wb", "xb"):
            handle = _FailingFile(self, self._strip_protocol(path))
            handle.commit()
            return handle
        return super()._open(path, mode, **kwargs)

    def rm(self, path: Any, *args: Any, **kwargs: Any) -> None:
        self.maybe_fail("rm")
        super().rm(path, *args, **kwargs)

    def mv(self, path1: Any, path2: Any, *args: Any, **kwargs: Any) -> None:
        self.maybe_fail("mv")
        super().mv(path1, path2, *args, **kwargs)


fsspec.register_implementation("failing", FailingFileSystem, clobber=True)


def failing_storage_url(name: str) -> str:
    """A fresh root on the failing file system (faults cleared)."""
    FailingFileSystem.faults.clear()
    return f"failing://{name}"


class SeverableProxy:
    """A loopback TCP proxy to ``target``; :meth:`sever` cuts every open connection.

    New connections are still accepted after a cut (the database "comes
    back"), except while ``refusing`` is set and for the next
    ``refuse_next`` connections.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.cuts = 0
        self.connections_cut = 0
        self.refusing = False
        self.refuse_next = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing or self.refuse_next > 0:
                self.refuse_next = max(self.refuse_next - 1, 0)
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def sever(self, *, refuse_next: int = 0) -> int:
        """Cut every connection now open, then drop the next ``refuse_next`` connects.

        Returns how many client connections were open (and are now cut);
        ``cuts`` counts every call, ``connections_cut`` the connections.
        """
        self.refuse_next = refuse_next
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self.cuts += 1
        self.connections_cut += len(connections) // 2  # a client and its upstream
        return len(connections) // 2

    def close(self) -> None:
        """Stop accepting and cut everything."""
        self._closed = True
        self._listener.close()
        self.sever()
