"""An installed charnn works outside the checkout: build a wheel, install it (not editable) into a
fresh virtual environment, and train on the bundled Austen corpus from another folder.

    pytest -q tests/test_wheel.py        (slow: builds the C kernels, about a minute)

The fresh environment borrows the project's installed dependencies (torch, numpy, pandas...) through
one .pth line, so nothing is downloaded; charnn itself comes only from the wheel, as the test checks.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run(*args, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CHARNN_CORPORA", "VIRTUAL_ENV")}
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh virtual environment holding charnn from a freshly built wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", tmp / "dist", ROOT,
        cwd=tmp)
    wheel = next((tmp / "dist").glob("charnn-*.whl"))
    run(sys.executable, "-m", "venv", tmp / "venv", cwd=tmp)
    target = Path(sysconfig.get_path("purelib", vars={"base": str(tmp / "venv"), "platbase": str(tmp / "venv")}))
    (target / "project_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    bin_dir = tmp / "venv" / "bin"
    run(bin_dir / "python", "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", wheel, cwd=tmp)
    return bin_dir


def test_an_installed_wheel_trains_on_its_bundled_corpus_from_another_folder(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run(installed / "python", "-c", "import charnn, charnn.corpus_store as s; print(charnn.__file__); "
                "print(s.corpora_dir())", cwd=elsewhere).stdout.split("\n")
    venv = installed.parent.resolve()
    assert Path(where[0]).resolve().is_relative_to(venv), f"charnn came from {where[0]}, not the wheel"
    assert Path(where[1]).resolve().is_relative_to(venv) and (Path(where[1]) / "austen" / "NOTICE").is_file()
    listed = run(installed / "charnn", "corpus", "list", cwd=elsewhere).stdout
    assert "austen" in listed and "mdn-bcd" in listed
    run(installed / "charnn", "train", "austen", "--max-steps", "20", "--layers", "1", "--hidden", "32", "--out", "X",
        cwd=elsewhere)
    config = json.loads((elsewhere / "X" / "config.json").read_text())
    assert config["corpus"]["source"] == "austen" and config["corpus"]["documents"] == 6
    assert config["model"]["hidden"] == 32 and (elsewhere / "X" / "model.safetensors").is_file()
