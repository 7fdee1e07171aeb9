"""Test-suite settings: property tests are derandomized so CI runs are reproducible.

Explore further with e.g. ``HYPOTHESIS_PROFILE=explore python -m pytest tests/test_fuzz.py``.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
