"""A service that cannot start stops once, with one line naming the cause and the fix.

BentoML's process manager restarts a worker that dies, for ever (outside containers): a worker
that cannot load its model (none promoted, not in the store, another schema) or whose settings
are invalid would fail in a loop, print a traceback each time and hold the port. Instead:

* a worker whose start-up fails (:func:`startup_guard`) writes the reason once (the first
  worker to fail creates a marker file named after the server's process; the others stay
  quiet), asks the server process to stop (SIGTERM) and exits;
* the server process (:func:`exit_nonzero_after_failed_startup`, installed when ``service.py``
  is imported) turns its otherwise clean exit into exit code 3 when that marker exists.

So ``bentoml serve`` prints ``error: the service cannot start: ...`` once and exits non-zero
within seconds, the way a misconfigured program should.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from loan_default.errors import LoanError

EXIT_CODE = 3
"""Exit code of ``bentoml serve`` when a worker could not start."""
_installed: set[int] = set()


def _marker(server_pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"loan-default-startup-failed-{server_pid}"


def describe(exc: BaseException) -> str:
    """One line: a settings error names the ``LOAN_*`` variables at fault."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"LOAN_{'_'.join(str(x) for x in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        return f"invalid settings: {problems}"
    return " ".join(str(exc).split())


def fail_startup(exc: BaseException) -> NoReturn:
    """Report ``exc`` once for the whole server, stop the server, exit this worker."""
    server = os.getppid()
    try:
        fd = os.open(_marker(server), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        pass  # another worker already said it
    else:
        message = f"error: the service cannot start: {describe(exc)}"
        os.write(fd, message.encode())
        os.close(fd)
        print(message, file=sys.stderr, flush=True)
    os.kill(server, signal.SIGTERM)
    os._exit(EXIT_CODE)


@contextmanager
def startup_guard() -> Iterator[None]:
    """Wrap a worker's start-up: a configuration or model error ends the server once."""
    try:
        yield
    except (LoanError, ValidationError) as exc:
        fail_startup(exc)


def exit_nonzero_after_failed_startup() -> None:
    """In the server process: exit with :data:`EXIT_CODE` if a worker failed to start."""
    pid = os.getpid()
    if pid in _installed:
        return
    _installed.add(pid)

    def check() -> None:
        marker = _marker(pid)
        if marker.exists():
            marker.unlink(missing_ok=True)
            os._exit(EXIT_CODE)

    atexit.register(check)
