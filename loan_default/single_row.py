"""LightGBM's C fast path for scoring one row at a time (the API's single-application calls).

``Booster.predict`` rebuilds a predictor and its parameter string on every call: ~90 us for one
row of the serving model, about three times the trees' own work. LightGBM's C API has a path
made for this case, ``LGBM_BoosterPredictForMatSingleRowFast``: the configuration is prepared
once (``...FastInit``) and each call only walks the trees (~30 us; ``bench/serve.py``).
The Python package does not wrap it, so this module calls it through the package's own loaded
library, and answers exactly what ``Booster.predict(raw_score=True)`` answers (tested).

A prepared configuration holds a scratch buffer, so it is kept per thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from typing import Any

import numpy as np

_C_API_DTYPE_FLOAT64 = 1
_C_API_PREDICT_RAW_SCORE = 1


class SingleRowPredictor:
    """Raw scores of single rows from a LightGBM ``Booster``, with one thread.

    Args:
        booster: a trained ``lightgbm.Booster`` (kept alive by this object).
        n_features: the row length.
    """

    def __init__(self, booster: Any, n_features: int) -> None:
        from lightgbm.basic import _LIB, _safe_call

        self._lib = _LIB
        self._check = _safe_call
        self._booster = booster
        self.n_features = n_features
        self._local = threading.local()
        self._configs: list[ctypes.c_void_p] = []
        self._lock = threading.Lock()

    def _config(self) -> tuple[ctypes.c_void_p, np.ndarray, Any, ctypes.c_int64]:
        state = getattr(self._local, "state", None)
        if state is None:
            handle = ctypes.c_void_p()
            self._check(
                self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                    self._booster._handle,
                    ctypes.c_int(_C_API_PREDICT_RAW_SCORE),
                    ctypes.c_int(0),  # start iteration
                    ctypes.c_int(-1),  # all iterations (the best one if early-stopped)
                    ctypes.c_int(_C_API_DTYPE_FLOAT64),
                    ctypes.c_int32(self.n_features),
                    ctypes.c_char_p(b"num_threads=1"),
                    ctypes.byref(handle),
                )
            )
            with self._lock:
                self._configs.append(handle)
            out = np.zeros(1, dtype=np.float64)
            state = (handle, out, out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                     ctypes.c_int64(0))  # fmt: skip
            self._local.state = state
        return state

    def raw_score(self, row: np.ndarray) -> float:
        """The raw score (log-odds) of one row: a contiguous float64 vector of ``n_features``."""
        if row.dtype != np.float64 or row.size != self.n_features or not row.flags.c_contiguous:
            raise ValueError(f"expected a contiguous float64 row of {self.n_features} values")
        handle, out, out_ptr, out_len = self._config()
        self._check(
            self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                handle, row.ctypes.data_as(ctypes.c_void_p), ctypes.byref(out_len), out_ptr
            )
        )
        return float(out[0])

    def close(self) -> None:
        """Free the prepared configurations (also done when the object is collected)."""
        with self._lock:
            configs, self._configs = self._configs, []
        for handle in configs:
            self._lib.LGBM_FastConfigFree(handle)
        self._local = threading.local()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit the library may be gone
            self.close()
