"""Where the platform keeps its state: the one rule every process follows.

``LOAN_HOME`` names the folder of everything generated at run time (data, MLflow store, Bento
model store, traffic and monitoring logs, reports). When it is not set:

* in a source checkout (this package sits beside ``pyproject.toml``) it is the checkout's
  ``var/`` folder, whatever the current directory: ``make demo``, ``loanctl`` and
  ``bentoml serve`` run from any shell then share one state, and ``var/`` is git-ignored;
* in an installed copy (a wheel in site-packages) it is ``~/.loan-default``.

The Bento model store follows: ``BENTOML_HOME`` defaults to ``<LOAN_HOME>/bentoml``. BentoML
reads ``BENTOML_HOME`` once per process, before it imports a service, so
:func:`configure_environment` runs at interpreter start (the ``loan_default_home.pth`` hook an
install of this package puts in site-packages, see ``hatch_build.py``), and again where the
CLI and the service start, for environments installed without the hook. This module uses the
standard library only: it runs in every Python process of the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_VARIABLE = "LOAN_HOME"
INSTALLED_HOME = Path("~/.loan-default")
"""The state folder of an installed (not checked-out) copy when ``LOAN_HOME`` is unset."""


def checkout_root() -> Path | None:
    """The source checkout holding this package, or ``None`` for an installed copy."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def default_home() -> Path:
    """``<checkout>/var`` in a source checkout, else ``~/.loan-default`` (absolute)."""
    root = checkout_root()
    return (root / "var") if root is not None else INSTALLED_HOME.expanduser()


def platform_home() -> Path:
    """``LOAN_HOME`` (made absolute: a relative one is read from the current directory)."""
    value = os.environ.get(HOME_VARIABLE)
    return Path(value).expanduser().resolve() if value else default_home()


def bentoml_home(home: Path | None = None) -> Path:
    """The Bento model store: ``BENTOML_HOME`` when set, else ``<LOAN_HOME>/bentoml``."""
    if value := os.environ.get("BENTOML_HOME"):
        return Path(value).expanduser()
    return (home or platform_home()) / "bentoml"


def configure_environment() -> Path:
    """Export ``LOAN_HOME`` and ``BENTOML_HOME`` (where unset) for this process and its children.

    Idempotent and cheap; explicit settings always win. Returns the platform home.
    """
    home = platform_home()
    os.environ[HOME_VARIABLE] = str(home)  # absolute: children may start in another folder
    os.environ.setdefault("BENTOML_HOME", str(bentoml_home(home)))
    return home


def project_version() -> str:
    """The platform's version: the installed distribution's, else the checkout's
    ``pyproject.toml`` (a copy of the sources on the path, as in the monitor's image)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("loan-default-platform")
    except PackageNotFoundError:
        pass
    root = checkout_root()
    if root is None:
        return "unknown"
    import tomllib

    return str(tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"])
