"""The package's top level: file readers load on first use, the public names all resolve."""

from __future__ import annotations

import subprocess
import sys

import pytest

import synthtumor


def test_generators_import_without_the_file_readers():
    # nibabel (with pydicom) is most of a cold start; a generator handed arrays never needs it
    code = "import sys, synthtumor.generators; print('nibabel' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_public_name_resolves():
    for name in synthtumor.__all__:
        assert getattr(synthtumor, name) is not None
    assert synthtumor.load_case is synthtumor.io.load_case
    assert "load_case" in dir(synthtumor)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        synthtumor.no_such_name  # noqa: B018
