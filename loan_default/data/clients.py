"""Client keys of synthetic applications: most clients apply once, some apply again soon after.

Lenders see the same client come back: a second application after a refusal, or several
applications within days at different lenders' products (loan stacking). The generator
gives each application a ``client_id``; a share of applications (``repeat_share``) belongs to a
client who applied earlier, chosen by going back a random gap in time (exponential, mean
``mean_gap_days``) from the application and taking the client of the latest application before
that instant. Chains arise naturally (a repeat of a repeat), so some clients apply three or
more times, up to ``MAX_APPLICATIONS``.

The draws use a random stream of their own (derived from the seed), so adding client keys did
not change any other column of a seeded frame. The applicants' other attributes are drawn
independently per application: a repeat client's age or income is not carried over (the keys
exercise the feature store's client history, not a panel of people).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REPEAT_SHARE = 0.15
"""Share of applications made by a client who applied before."""
MEAN_GAP_DAYS = 20.0
"""Mean time back to the earlier application a repeat follows (loan stacking is quick)."""
MAX_APPLICATIONS = 6
"""Most applications one client makes in a frame (a full client starts a new one)."""
_STREAM = 0xC11E


def client_ids(
    dates: np.ndarray,
    *,
    seed: int,
    repeat_share: float = REPEAT_SHARE,
    mean_gap_days: float = MEAN_GAP_DAYS,
) -> np.ndarray:
    """One client key per application (object array of ``CLI-<seed>-<n>``), with repeats.

    Args:
        dates: the applications' instants (``datetime64``, naive = UTC), in any order.
        seed: the frame's seed; the same seed and dates always give the same keys.
        repeat_share: share of applications made by an earlier client.
        mean_gap_days: mean gap back in time to the application a repeat follows.
    """
    n = len(dates)
    rng = np.random.default_rng([seed, _STREAM])
    instants = pd.to_datetime(pd.Series(dates), utc=True).dt.tz_localize(None).to_numpy()
    order = np.argsort(instants, kind="stable")
    ordered = instants.astype("datetime64[s]")[order]
    # draws by position in date order: the keys follow the dates, not the rows' order
    repeat = rng.random(n) < repeat_share
    gaps = rng.exponential(mean_gap_days * 86400.0, n).astype("timedelta64[s]")
    # the latest earlier application at or before (date - gap), for each position in date order
    earlier = np.searchsorted(ordered, ordered - gaps, side="right") - 1
    earlier = np.minimum(earlier, np.arange(n) - 1)
    client = np.empty(n, dtype=np.int64)  # client number by position in date order
    made = np.zeros(n, dtype=np.int64)  # applications so far, by client number
    next_client = 0
    for position in range(n):
        parent = earlier[position]
        if repeat[position] and parent >= 0 and made[client[parent]] < MAX_APPLICATIONS:
            client[position] = client[parent]
            made[client[parent]] += 1
        else:
            made[next_client] = 1
            client[position] = next_client
            next_client += 1
    width = max(len(str(max(next_client - 1, 0))), 7)
    out = np.empty(n, dtype=object)
    out[order] = [f"CLI-{seed}-{c:0{width}d}" for c in client]
    return out
