"""Runs ``python -m eqprop_hw.bench.runs [OPTIONS]`` (that module says what it measures).

The benchmark lives in the package so that ``eqprop-hw bench`` works from an installed wheel;
this script is kept for source checkouts and the commands the docs name.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("eqprop_hw.bench.runs", run_name="__main__", alter_sys=True)
else:
    from eqprop_hw.bench.runs import SUMMARY, run  # noqa: F401  (what eqprop-hw bench uses)
