"""Loaded by pytest before Django starts (``-p tests._env``): tests get their own HIMITSU_HOME."""

import os
import tempfile

if not os.environ.get("HIMITSU_TEST_KEEP_HOME"):
    os.environ["HIMITSU_HOME"] = tempfile.mkdtemp(prefix="himitsu-test-")
