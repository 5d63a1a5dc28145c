import subprocess
import sys

import pytest

CODE = "import mgdlcore; from mgdlcore.allocator import allocator_state; print(allocator_state())"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
@pytest.mark.parametrize("env, expected", [({}, "glibc tuned"), ({"MGDL_ALLOCATOR": "default"}, "default")])
def test_allocator_is_tuned_on_import_unless_asked_not_to(env, expected, monkeypatch):
    monkeypatch.delenv("MGDL_ALLOCATOR", raising=False)
    import os

    out = subprocess.run([sys.executable, "-c", CODE], env={**os.environ, **env}, capture_output=True, text=True)
    assert out.stdout.strip() == expected, out.stderr
