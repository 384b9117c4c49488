"""Writes savgol_scipy.json: scipy.signal.savgol_filter (mode 'interp', the
default, delta 1) on one seeded signal, for the tests of savitzky_golay.rs.

    python crates/data/src/preprocess/make_savgol_fixture.py
"""
import json
from pathlib import Path

import numpy as np
import scipy
from scipy.signal import savgol_filter

rng = np.random.default_rng(7)
signal = np.cumsum(rng.normal(size=48)) + np.sin(np.arange(48) / 3.0)
cases = []
for window, order, derivative in [(5, 2, 0), (11, 2, 1), (15, 3, 2), (7, 3, 0), (9, 4, 1)]:
    out = savgol_filter(signal, window, order, deriv=derivative)
    cases.append({"window": window, "order": order, "derivative": derivative, "expected": out.tolist()})
Path(__file__).with_name("savgol_scipy.json").write_text(
    json.dumps({"scipy": scipy.__version__, "signal": signal.tolist(), "cases": cases}, indent=1) + "\n"
)
