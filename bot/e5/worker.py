"""The e5 engine in a process of its own, so it never waits for the GIL.

onnxruntime runs a forward pass without the GIL, but the tokenizer, the
embedding lookup and the pooling around it are Python and numpy, which must
take the GIL many times a question, and each time it can wait for the bot's
event loop or the other threads waiting for the model to let go: `python -m
bench.bench_e5` prints a question taking many times longer while three other
threads run Python, in the bot's process, than in this worker. In a child
process the engine has an interpreter to itself; the bot thread that asks waits
in a socket read, which holds no lock.

One child per bot process, started with the first `E5Embedder` and shared by
every later one (tests build many); it ends with the bot, or when its socket
closes if the bot is killed.
"""

from __future__ import annotations

import atexit
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]


#: Seconds a request may take before the worker counts as hung (the first one after
#: a start also waits for the model's build). A request is at most a cache-building
#: batch of 64 texts (`embedding._BATCH`); `bench_e5` times a batch of questions at
#: tens of milliseconds.
REPLY_TIMEOUT = 30.0
#: Starts in a row that never answered, after which the worker is given up
#: (its model cannot load, say) and the C engine answers from then on.
MAX_FAILED_STARTS = 3


def _serve(connection: Connection) -> None:
    """The child: encode each request (a list of texts) until the socket closes."""
    import signal

    # Ctrl+C in a terminal reaches the whole process group: the bot shuts down in
    # order and closes the socket, which is the child's signal to end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from bot.e5.engine import E5Engine

    engine = E5Engine()
    while True:
        try:
            texts = connection.recv()
        except (EOFError, OSError):
            return  # the bot is gone
        try:
            reply: Any = engine.encode(texts)
        except Exception as error:  # reported to the caller, the child stays up
            reply = error
        try:
            connection.send(reply)
        except (EOFError, OSError):
            return
        except Exception:  # an exception that cannot be pickled
            connection.send(RuntimeError(repr(reply)))


def _command() -> list[str]:
    """The child's command line: this module run by the bot's own interpreter."""
    return [sys.executable, "-m", __name__]


class E5Process:
    """A child process running `E5Engine`; one request at a time.

    The child is a fresh interpreter running this module (`python -m
    bot.e5.worker FD`), not a multiprocessing child: that would import the
    bot's main module again in the child (and fail for a script read from
    stdin), and start multiprocessing's resource tracker, a third process.
    Requests and replies travel as pickles over a socket pair
    (`multiprocessing.connection.Connection`, which frames them).

    Raises from `encode`:
        WorkerGone: The child died or could not start; the next call starts a new one.
    """

    def __init__(self, command: Sequence[str] | None = None) -> None:
        """Start the child (it builds the model while the caller goes on).

        Args:
            command: The child's command line before the socket's descriptor;
                this module by default (tests start one that dies).
        """
        self._command = list(command) if command is not None else _command()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None
        self._failed_starts = 0  # starts in a row that never answered
        try:
            self._start()
        except OSError:
            log.exception("the e5 worker process could not start")

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        # The child finds `bot` as this process did: installed, or through the
        # working directory and PYTHONPATH it inherits.
        try:
            process = subprocess.Popen(
                [*self._command, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._process, self._connection = process, Connection(ours.detach())

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors of `texts` from the child.

        Raises:
            WorkerGone: The child is not answering (it is restarted on the next call).
            Exception: What the engine raised for these texts.
        """
        with self._lock:
            if self._failed_starts >= MAX_FAILED_STARTS:
                raise WorkerGone("given up after starts that never answered")
            try:
                if self._connection is None:
                    self._start()
                assert self._connection is not None
                self._connection.send(list(texts))
                if not self._connection.poll(REPLY_TIMEOUT):
                    raise TimeoutError(f"no reply in {REPLY_TIMEOUT:.0f} s")
                reply = self._connection.recv()
            except (EOFError, OSError) as error:  # TimeoutError is an OSError
                self._discard()
                raise WorkerGone(str(error) or type(error).__name__) from error
            self._failed_starts = 0
        if isinstance(reply, Exception):
            raise reply
        return np.asarray(reply, dtype=np.float32)

    def pid(self) -> int | None:
        """The child's process id (for tests and diagnostics)."""
        return None if self._process is None else self._process.pid

    def _discard(self) -> None:
        self._failed_starts += 1
        if self._failed_starts >= MAX_FAILED_STARTS:
            log.error(
                "the e5 worker process failed %d times in a row; not starting it again",
                self._failed_starts,
            )
        else:
            log.warning(
                "the e5 worker process stopped answering; starting another on the next call"
            )
        _end(self._process, self._connection)
        self._process = self._connection = None

    def close(self) -> None:
        """End the child now (the bot is exiting); a later `encode` starts another."""
        with self._lock:
            _end(self._process, self._connection)
            self._process = self._connection = None


def _end(process: subprocess.Popen[bytes] | None, connection: Connection | None) -> None:
    """Close the socket and end the child, which may still be building its model."""
    if connection is not None:
        connection.close()
    if process is not None:
        process.kill()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.error("the e5 worker process %d did not end", process.pid)


class WorkerGone(RuntimeError):
    """The e5 child process died or closed its pipe."""


_shared: E5Process | None = None
_shared_lock = threading.Lock()


def shared_process() -> E5Process:
    """The process-wide worker, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = E5Process()
            atexit.register(_shared.close)
        return _shared


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
