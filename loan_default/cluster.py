"""Where the heavy commands run: one ``cluster`` setting shared by predict, train and monitor.

``loanctl predict|train|monitor run --cluster ADDRESS|local`` (or ``LOAN_CLUSTER``) picks the
Dask cluster: ``local`` starts a :class:`distributed.LocalCluster` in this process (its size
from ``LOAN_CLUSTER_WORKERS``, ``LOAN_CLUSTER_THREADS``, ``LOAN_CLUSTER_MEMORY``), anything
else is the address of a running scheduler (``tcp://dask-scheduler:8786``, e.g. the Dask
operator's ``DaskCluster`` service on Kubernetes, ``docs/scale.md``). Without a cluster each
command keeps its single-process path.

Nothing starts at import time; :func:`connect` is a context manager that closes what it opened
(a local cluster and its workers; never a remote scheduler).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from loan_default.errors import ConfigError
from loan_default.settings import LoanSettings

if TYPE_CHECKING:
    from distributed import Client

LOCAL = "local"


class ClusterSettings(LoanSettings):
    """The Dask cluster of the scale-out paths (``LOAN_CLUSTER_*`` environment variables)."""

    cluster: str | None = Field(
        None,
        description="`local` (a LocalCluster in this process) or a scheduler address such as "
        "`tcp://dask-scheduler:8786`; unset: single-process paths.",
    )
    cluster_workers: int = Field(2, ge=1, description="`local`: worker processes.")
    cluster_threads: int = Field(1, ge=1, description="`local`: threads per worker.")
    cluster_memory: str = Field(
        "2GiB", description="`local`: memory limit per worker (Dask spills, then pauses)."
    )
    cluster_dashboard: str | None = Field(
        None, description="`local`: dashboard address such as `:8787` (default: off)."
    )
    cluster_timeout: float = Field(
        30.0, gt=0, description="Seconds to wait for a remote scheduler before failing."
    )

    @field_validator("cluster")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        value = value.strip()
        if value != LOCAL and "://" not in value and ":" not in value:
            raise ValueError(
                f"cluster must be 'local' or a scheduler address like tcp://host:8786, got "
                f"{value!r}"
            )
        return value


def resolve(cluster: str | None) -> ClusterSettings:
    """The settings with ``cluster`` (a command-line option) over ``LOAN_CLUSTER``.

    Raises:
        ConfigError: the value is neither ``local`` nor an address.
    """
    from pydantic import ValidationError

    try:
        settings = ClusterSettings()
        if cluster is not None:
            settings = ClusterSettings(**{**settings.model_dump(), "cluster": cluster})
    except ValidationError as exc:
        raise ConfigError(
            "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        ) from None
    return settings


@contextmanager
def connect(settings: ClusterSettings) -> Iterator[Client]:
    """A :class:`distributed.Client` on the configured cluster, closed on exit.

    Raises:
        ConfigError: no cluster is configured.
        UnavailableError: a remote scheduler does not answer within ``cluster_timeout``.
    """
    from distributed import Client, LocalCluster

    from loan_default.errors import UnavailableError

    if settings.cluster is None:
        raise ConfigError("no cluster configured: pass --cluster local|ADDRESS or LOAN_CLUSTER")
    if settings.cluster == LOCAL:
        with (
            LocalCluster(
                n_workers=settings.cluster_workers,
                threads_per_worker=settings.cluster_threads,
                memory_limit=settings.cluster_memory,
                dashboard_address=settings.cluster_dashboard,
                processes=True,
                host="127.0.0.1",
            ) as local,
            Client(local) as client,
        ):
            yield client
        return
    try:
        client = Client(settings.cluster, timeout=settings.cluster_timeout)
    except (OSError, TimeoutError) as exc:
        raise UnavailableError(
            f"Dask scheduler {settings.cluster} does not answer ({exc})"
        ) from exc
    try:
        yield client
    finally:
        client.close()
