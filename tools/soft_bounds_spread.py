"""Where trained conductances sit in the device study's 1e-6..1e-4 S range, and how much
smaller a soft-bounds device's down-step is than its up-step there (nominal model).

For each params.npz given, prints the 10/50/90% quantiles of the conductances, the share below
1e-5 S and above the soft-bounds symmetric point, and the median ratio of the up-step
``dw (1 + up_down) 2 (g_max - g) / (g_max - g_min)`` to the down-step
``dw (1 - up_down) 2 (g - g_min) / (g_max - g_min)`` (up_down 0.1, the ``realistic`` profile's).
Usage::

    python3 tools/soft_bounds_spread.py RUN/params.npz [...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eqprop_hw.io.params import load_params  # noqa: E402

G_MIN, G_MAX, UP_DOWN = 1e-6, 1e-4, 0.1
SYMMETRIC = ((1 + UP_DOWN) * G_MAX + (1 - UP_DOWN) * G_MIN) / 2


def spread(values: np.ndarray) -> dict:
    """The figures above for one set of conductances (S)."""
    g = np.asarray(values, dtype=float)
    up = (1 + UP_DOWN) * 2 * np.maximum(G_MAX - g, 0.0) / (G_MAX - G_MIN)
    down = (1 - UP_DOWN) * 2 * np.maximum(g - G_MIN, 1e-15) / (G_MAX - G_MIN)
    return {"count": int(g.size), "quantiles": np.quantile(g, [0.1, 0.5, 0.9]).tolist(),
            "below_1e-5": float(np.mean(g < 1e-5)),
            "above_symmetric": float(np.mean(g > SYMMETRIC)),
            "median_up_down_ratio": float(np.median(up / down))}


def main(argv=None) -> int:
    for name in (argv if argv is not None else sys.argv[1:]):
        figures = spread(np.array(list(load_params(name).values()), dtype=float))
        low, mid, high = figures["quantiles"]
        print(f"{name}: {figures['count']} conductances, 10/50/90% {low:.2e} {mid:.2e} "
              f"{high:.2e} S; below 1e-5 S {figures['below_1e-5']:.1%}; above the symmetric "
              f"point {SYMMETRIC:.2e} S {figures['above_symmetric']:.1%}; median up/down step "
              f"ratio {figures['median_up_down_ratio']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
