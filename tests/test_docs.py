"""The documentation site builds with ``mkdocs build --strict`` (no warnings), and the API
page carries the docstrings of the public functions."""

from __future__ import annotations

import html
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")
pytest.importorskip("material")

import srcdiff  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _text(page: Path) -> str:
    """A built page's text, without tags, entities or line breaks."""
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    return " ".join(text.split())


def test_docs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # mkdocs-material's end-of-life banner
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    api = _text(site / "api" / "index.html")
    # the first sentence of grad's docstring, ``code`` marks removed as the page shows it
    first = inspect.getdoc(srcdiff.grad).split("\n\n")[0]
    sentence = " ".join(first.replace("``", "").split())
    assert "srcdiff.grad" in api
    assert sentence in api
    for name in ("value_and_grad", "jvp", "jacobian", "hessian", "hvp", "check_grad"):
        assert f"srcdiff.{name}" in api
    assert "srcdiff.optim.Adam" in (site / "api" / "index.html").read_text(encoding="utf-8")
    for page in ("how-it-works", "reference", "training", "benchmarks", "design"):
        assert (site / page / "index.html").is_file()
