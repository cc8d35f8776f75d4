"""The command line as a user meets it: `python -m charnn`, one-line errors, a broken install.
Run: pytest tests/test_cli.py"""

import subprocess
import sys


def charnn(*argv, code: str | None = None):
    prefix = [sys.executable, "-c", code] if code else [sys.executable, "-m", "charnn"]
    return subprocess.run([*prefix, *map(str, argv)], capture_output=True, text=True, timeout=120)


def test_python_dash_m_charnn_is_the_cli():
    result = charnn("--help")
    assert result.returncode == 0 and "train" in result.stdout and "dashboard" in result.stdout


def test_usage_errors_are_one_line():
    result = charnn("sample", "runs/none", "--temperature", "nan")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "charnn sample: error: argument --temperature: must be a finite number, not nan (see charnn sample --help)"]


def test_sample_refuses_a_non_finite_clamp(tiny_run):
    result = charnn("sample", tiny_run, "--clamp", "0:c:1=nan", "--length", "5")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "finite" in result.stderr


def test_ablate_refuses_a_non_finite_clamp_before_any_work(tiny_run):
    result = charnn("ablate", tiny_run, "val", "--unit", "0:c:1", "--mode", "clamp=nan")
    assert result.returncode == 2 and "finite" in result.stderr and "Traceback" not in result.stderr


def test_dashboard_with_a_broken_install_says_so_in_one_line(tmp_path):
    blocked = "import sys; sys.modules['dash'] = None; from charnn.cli import main; sys.exit(main(sys.argv[1:]))"
    result = charnn("dashboard", tmp_path, code=blocked)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot start" in result.stderr and "reinstall charnn" in result.stderr
