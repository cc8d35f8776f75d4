"""Names a user gives stay one path component, and nothing charnn did not write is replaced.
Run: pytest tests/test_names.py"""

import shutil

import pytest

from charnn.cli import main
from charnn.fsio import NotReplaceable, atomic_dir
from charnn.names import BadName, check_name
from charnn.recording import record
from charnn.sae.store import check_name as check_sae_name
from dashboards.paths import PathError, run_path


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A copy of the tiny run at tmp_path/runs/tiny, beside an unrelated folder tmp_path/runs/victim."""
    run = tmp_path / "runs" / "tiny"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("recordings"))
    victim = tmp_path / "runs" / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("mine")
    return run


@pytest.mark.parametrize("name", ["../../victim", "..", ".", "/tmp/abs", "a/b", "a\\b", ".hidden", "", "x\0y",
                                  "tab\there", "n" * 101])
def test_names_that_are_not_one_plain_component_are_refused(name):
    with pytest.raises(BadName):
        check_name(name, "recording name")
    with pytest.raises(PathError):
        run_path("/tmp", name)
    with pytest.raises(ValueError):
        check_sae_name(name)


@pytest.mark.parametrize("name", ["val", "step-0000100", "my.notes_2", "Größe", "n" * 100])
def test_plain_names_pass(name):
    assert check_name(name) == name


def test_record_name_leading_out_of_the_run_loses_nothing(run_copy, small_corpus, capsys):
    victim = run_copy.parent / "victim"
    code = main(["record", str(run_copy), str(small_corpus), "--name", "../../victim", "--max-chars", "500"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "../../victim" in err and "not a plain name" in err
    assert (victim / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in run_copy.parent.iterdir()) == ["tiny", "victim"]
    for name in ("../../tiny", "/tmp/elsewhere", ".."):
        assert main(["record", str(run_copy), str(small_corpus), "--name", name, "--max-chars", "500"]) == 2
    assert (run_copy / "config.json").is_file()


def test_record_refuses_to_replace_a_folder_that_is_not_a_recording(run_copy, small_corpus, capsys):
    mine = run_copy / "recordings" / "notes"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    assert main(["record", str(run_copy), str(small_corpus), "--name", "notes", "--max-chars", "500"]) == 2
    err = capsys.readouterr().err
    assert "is not a recording charnn wrote" in err and str(mine) in err
    assert (mine / "notes.txt").read_text() == "mine" and sorted(p.name for p in mine.parent.iterdir()) == ["notes"]
    with pytest.raises(NotReplaceable):  # the API's `out` is checked the same way
        record(run_copy, str(small_corpus), out=run_copy.parent / "victim", max_chars=500, progress=False)
    assert (run_copy.parent / "victim" / "notes.txt").read_text() == "mine"


def test_a_recording_is_replaced_by_a_new_one_of_the_same_name(run_copy, small_corpus):
    first = record(run_copy, str(small_corpus), name="again", max_chars=400, progress=False)
    second = record(run_copy, str(small_corpus), name="again", max_chars=300, progress=False)
    assert first == second and '"n_chars": 300' in (second / "meta.json").read_text()


def test_a_symlink_at_the_target_is_not_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "keep.txt").write_text("keep")
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(NotReplaceable):
        with atomic_dir(tmp_path / "link", lambda folder: True) as tmp:
            (tmp / "new").write_text("x")
    assert (real / "keep.txt").read_text() == "keep" and (tmp_path / "link").is_symlink()
