"""Another checkout of this project served beside the current one by ``bench/serve.py``.

``--baseline-tree PATH`` answers "does this change make serving slower?" in one run: the other
checkout (e.g. ``git worktree add ../before <commit>`` with its own ``make install``) trains the
same benchmark model with its own code (same rows, seed and parameters) into a throw-away Bento
store, makes its own request bodies from the same generator seed (so every body is valid for
its schema), and is served by its own ``.venv``'s ``bentoml serve``. It is then measured in the
same loop as the current service and the lean floor, so all three see the same neighbours.

The snippet runs in the other checkout's interpreter and may only use what every version has
had since the benchmark existed: ``generate_applications`` (moved from ``loan_default.generate``
to ``loan_default.data.generate``), ``tests/runners/tiny_model.py``'s ``payloads`` and ``save``,
``FeatureEngineer`` and ``ScoringModel``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

HTTP_PORT, GRPC_PORT = 3305, 3306

_PREPARE = """
import json, sys
import lightgbm as lgb
try:
    from loan_default.data.generate import generate_applications
except ImportError:  # before the data stage moved to loan_default/data/
    from loan_default.generate import generate_applications
from loan_default.features import FeatureEngineer
from loan_default.model import ScoringModel
from loan_default.schema import LABEL
from tests.runners.tiny_model import payloads, save

rows, seed, batch_rows = (int(a) for a in sys.argv[1:4])
frame = generate_applications(rows, seed=seed)
features = FeatureEngineer().fit(frame)
estimator = lgb.LGBMClassifier(
    n_estimators=300, num_leaves=31, learning_rate=0.05, random_state=seed, verbose=-1
)
estimator.fit(
    features.transform(frame), frame[LABEL], categorical_feature=features.categorical_indices_
)
tag = save(ScoringModel(features, estimator), frame, version="vbench")
print(json.dumps({
    "tag": tag,
    "singles": payloads(generate_applications(500, seed=11)),
    "batch": payloads(generate_applications(batch_rows, seed=12)),
}, default=str))
"""


@dataclass(frozen=True)
class Baseline:
    """The other checkout, ready to serve: its command, environment and request bodies."""

    root: Path
    cmd: list[str]
    env: dict[str, str]
    singles: list[dict]
    batch: list[dict]


def prepare(tree: Path, home: Path, env: dict[str, str], *, batch_rows: int) -> Baseline:
    """Train the benchmark model and make the bodies with ``tree``'s own code.

    Args:
        tree: the other checkout (with its ``.venv``).
        home: an empty folder for its Bento store and LOAN_HOME.
        env: the environment the current service gets (ports and homes are replaced).
    """
    root = tree.resolve()
    python = interpreter(root)
    home.mkdir(parents=True, exist_ok=True)
    env = dict(env, BENTOML_HOME=str(home / "bentoml"), LOAN_HOME=str(home),
               LOAN_GRPC_PORT=str(GRPC_PORT), PYTHONPATH=str(root))  # fmt: skip
    env.pop("LOAN_MODEL_TAG", None)
    done = subprocess.run(
        [str(python), "-c", _PREPARE, "20000", "0", str(batch_rows)],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"--baseline-tree {root}: preparing failed:\n{done.stderr[-2000:]}")
    made = json.loads(done.stdout.strip().splitlines()[-1])
    env["LOAN_MODEL_TAG"] = made["tag"]
    cmd = [str(root / ".venv" / "bin" / "bentoml"), "serve", "service:LoanDefaultService",
           "--host", "127.0.0.1", "--port", str(HTTP_PORT)]  # fmt: skip
    return Baseline(root, cmd, env, made["singles"], made["batch"])


def interpreter(tree: Path) -> Path:
    """The other checkout's Python (its own ``.venv``); exits naming the tree when it has none."""
    python = tree / ".venv" / "bin" / "python"
    if not python.is_file():
        raise SystemExit(f"--baseline-tree {tree}: no .venv there (run `make install` in it)")
    return python


def rounds_text(ratios: list[float]) -> str:
    """``median (each round's, ...)`` of the rounds' ratios, as percentages."""
    return f"{statistics.median(ratios):.0%} ({', '.join(f'{r:.0%}' for r in ratios)})"


_PAIRS = (("REST", "bentoml", "before"), ("gRPC", "grpc", "before_grpc"))


def report(
    results: dict, levels: list[int], rounds: dict[tuple[str, str], list] | None = None
) -> None:
    """This service against the other checkout, scenario by scenario (same run): ``results``
    holds ``bench/serve.py``'s load results by (server, scenario) (medians over the rounds),
    ``rounds`` every round's: each round's ratio (the two servers measured back to back) and
    their median, the figure to quote when the machine's load moves between rounds."""
    print("--- against the baseline tree (same run; >= 100% means no slower):")
    for c in levels:
        now, then = results["bentoml", f"c{c}"], results["before", f"c{c}"]
        gnow, gthen = results["grpc", f"c{c}"], results["before_grpc", f"c{c}"]
        print(f"    c={c:<3} REST {now.rps:,.0f} vs {then.rps:,.0f} req/s = "
              f"{now.rps / then.rps:.0%}, p50 {now.p50 * 1e3:.2f} vs {then.p50 * 1e3:.2f} ms; "
              f"gRPC {gnow.rps:,.0f} vs {gthen.rps:,.0f} = {gnow.rps / gthen.rps:.0%}")  # fmt: skip
        if rounds and len(rounds["bentoml", f"c{c}"]) > 1:
            for label, ours, theirs in _PAIRS:
                pairs = zip(rounds[ours, f"c{c}"], rounds[theirs, f"c{c}"], strict=True)
                each = [a.rps / b.rps for a, b in pairs]
                print(f"          {label} median of the rounds' ratios {rounds_text(each)}")
    now, then = results["bentoml", "batch"], results["before", "batch"]
    print(f"    batch rows/s {now.rps / then.rps:.0%} of the baseline's")
    if rounds and len(rounds["bentoml", "batch"]) > 1:
        pairs = zip(rounds["bentoml", "batch"], rounds["before", "batch"], strict=True)
        each = [a.rps / b.rps for a, b in pairs]
        print(f"          median of the rounds' ratios {rounds_text(each)}")
