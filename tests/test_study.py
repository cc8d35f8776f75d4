"""Smoke test of experiments/study.py: the whole study on a tiny budget, a tiny synthetic
kernel-like C corpus and a small prose file (seconds, not minutes)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

STUDY = Path(__file__).resolve().parents[1] / "experiments" / "study.py"

C_TEMPLATE = """/*
 * {name}() - {verb} the {noun} of a task.
 * @p: the task
 */
static int {name}(struct task_struct *p, int flags)
{{
\tint ret = 0; // {noun} count

\tif (!p || (flags & {flag}))
\t\treturn -EINVAL;
\tfor (i = 0; i < nr_{noun}s[{i}]; i++) {{
\t\tif (p->{noun}[i] == NULL) {{
\t\t\tpr_warn("{name}: no {noun} at %d\\n", i);
\t\t\tcontinue;
\t\t}}
\t\tret += {verb}_one(p->{noun}[i], '{ch}');
\t}}
\treturn ret; /* see http://example.org/{noun} */
}}

"""

PROSE = ('"My dear {name}," said his lady to him one day, "have you heard that {place} is let at last?" '
         "{name} replied that he had not (he seldom did). But it is, returned she; for Mrs. Long has just\n"
         "been here, and she told me all about it. {name} made no answer. \"Do you not want to know who\n"
         "has taken it?\" cried his wife impatiently. \"You want to tell me, and I have no objection to\n"
         "hearing it.\" This was invitation enough.\n\n")


def kernel_like(n_functions: int = 60) -> str:
    verbs, nouns = ["update", "release", "check", "count"], ["page", "lock", "timer", "signal", "zone"]
    return "".join(C_TEMPLATE.format(name=f"{verbs[i % 4]}_{nouns[i % 5]}_{i}", verb=verbs[i % 4], noun=nouns[i % 5],
                                     flag=f"F_{nouns[(i + 1) % 5].upper()}", i=i % 7, ch="abcxyz"[i % 6])
                   for i in range(n_functions))


def prose(n_paragraphs: int = 40) -> str:
    names, places = ["Mr. Bennet", "Elizabeth", "Jane", "Mr. Darcy"], ["Netherfield Park", "Longbourn", "Pemberley"]
    return "".join(PROSE.format(name=names[i % 4], place=places[i % 3]) for i in range(n_paragraphs))


def load_study():
    spec = importlib.util.spec_from_file_location("charnn_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_study_smoke(tmp_path):
    study = load_study()
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    (kernel / "sched.c").write_text(kernel_like(30))
    (kernel / "mm.c").write_text(kernel_like(30))
    novel = tmp_path / "novel.txt"
    novel.write_text(prose())
    out = study.main([
        "--corpora", f"{kernel},{novel}", "--minutes", "0.05", "--layers", "2", "--hidden", "16", "--embed", "8",
        "--batch-size", "8", "--seq-len", "32", "--eval-every", "1000", "--random-units", "2",
        "--max-record-chars", "3000", "--ablate-chars", "3000", "--out", str(tmp_path / "runs"),
        "--results-dir", str(tmp_path), "--device", "cpu",
    ])
    table = out["table"]
    assert set(study.TABLE_COLUMNS) <= set(table.columns)
    by_corpus = {name: list(group["concept"]) for name, group in table.groupby("corpus")}
    assert by_corpus["kernel"][:6] == study.CONCEPT_SETS["code"]
    assert by_corpus["novel"] == study.CONCEPT_SETS["prose"]  # no URL in the prose: no inside_url row
    assert "inside_url" in by_corpus["kernel"]  # the C comments hold a URL
    scored = table[table["unit"] != "-"]
    assert len(scored) >= len(table) - 1  # every concept but at most one varies on the recorded text
    assert scored["value"].between(0, 1).all() and scored["effect_ratio"].notna().all()
    text = out["path"].read_text()
    assert "| corpus | concept | best unit |" in text and "Gate saturation" in text and "paper" in text
    for concept in study.CONCEPT_SETS["code"] + study.CONCEPT_SETS["prose"]:
        assert concept in text
    assert out["machine"]["cpus"] >= 1
