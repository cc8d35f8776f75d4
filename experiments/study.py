"""The interpretable-cells study: one command, one table.

    nice -n 19 python experiments/study.py                     # 2x256 LSTM, 30 min per corpus
    python experiments/study.py --minutes 2                    # a quick end-to-end check

For each corpus (default: the Linux kernel's kernel/ + mm/ C source, the corpus of Karpathy,
Johnson and Fei-Fei 2015, and the bundled Jane Austen novels) it
  1. builds the corpus if needed (`charnn.recipes.cache.build_cached`, as `charnn corpus build`),
  2. trains an LSTM within a time budget (`charnn.Trainer`),
  3. records the first --max-record-chars characters of the test split with every LSTM state
     (i, f, g, o, c, h; `charnn.record`),
  4. runs the atlas (`charnn.search.atlas`) for the concepts that fit the text (code or prose),
  5. ablates each concept's best unit (`charnn.causal.ablate`, mode zero) and compares the loss
     change on the characters where that unit should matter with --random-units random units of
     the same layer and kind (the effect ratio),
  6. summarises gate saturation (`charnn.gates.saturation`, as the dashboard) against the
     paper's Fig. 3,
then prints one Markdown table (one row per concept), the bpc next to the paper's figures and
the saturation summary, and writes the same text to experiments/results-<timestamp>.md.

Why each ablation selects the characters it does (ABLATIONS below): the effect is measured on
the characters whose *prediction* needs the state the unit is supposed to carry, i.e. where a
unit that tracks the concept should act. The unit is zeroed at every step; only the loss is read
on the selection. A comment unit matters for predicting the comment delimiters (`*/` can only be
predicted inside a comment, a `/*` or `//` only outside one); a string unit for the closing `"`
(and for not opening a second one); a quote unit likewise for `"`; an indentation unit for the
tabs and spaces at the start of a line (how deep the new line is indented); a line-position unit
for the newline (when the line ends, the paper's line-length cell); a bracket unit for the
closing brackets; a sentence-end unit for the whitespace and capital letter that follow a
sentence end; a URL unit for the URL's own characters (no spaces, `/`, `.`, ...).

Numbers of the paper (Karpathy, Johnson, Fei-Fei 2015, "Visualizing and Understanding Recurrent
Networks", arXiv:1506.02078): the best model's test cross-entropy is 0.84 on the Linux kernel
(6,206,996 characters) and 1.077 on War and Peace (3,258,256 characters), against 0.889 and 1.195
for a 20-gram model. These were checked against a third-party summary of the paper (slides
"Visualizing and Understanding Recurrent Networks, presented by Ismail"), not the paper itself.
The paper reports cross-entropy without a unit in those lines; its code (char-rnn, Torch
ClassNLLCriterion on LogSoftMax) uses natural logarithms, so we read them as nats and divide by
ln 2 for bits per character. From memory: the best models are 3-layer LSTMs with up to 512
cells, trained on a GPU with RMSProp until convergence. Gate saturation (Fig. 3, section 4.3,
from memory): a gate is left-/right-saturated when its activation is < 0.1 / > 0.9; a few
forget gates are right-saturated almost all the time (cells that remember for a long time);
no forget gate is consistently left-saturated (no purely feed-forward cells); no output gate is
consistently saturated either way; first-layer gates are much more diffuse (rarely saturated)
than those of the deeper layers.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import torch

import charnn
from charnn.causal import ablate
from charnn.search import atlas
from charnn.text.concepts import code_language
from charnn.text.targets import RegexError

EXPERIMENTS = Path(__file__).resolve().parent
LN2 = math.log(2)

# Concepts reported per kind of text; inside_url is added wherever the text holds URLs.
CONCEPT_SETS = {
    "code": ["inside_comment", "inside_string", "indent_depth", "line_position", "bracket_depth", "inside_parens"],
    "prose": ["inside_quotes", "line_position", "inside_parens", "sentence_end"],
}
OPTIONAL_CONCEPTS = ["inside_url"]

# concept -> (regex selecting the characters where the loss change is read, why); see the docstring.
ABLATIONS = {
    "inside_comment": (r"/\*|\*/|(?<!:)//", "comment delimiters: `*/` is predictable only inside a comment, `/*` and "
                       "`//` only outside one (`://` of a URL excluded)"),
    "inside_string": (r'"', "the double quote that closes (or would open) a string literal"),
    "inside_quotes": ('["\u201c\u201d]', "the quote mark that closes (or would open) a quotation"),
    "indent_depth": (r"(?<=\n)[ \t]+", "the indentation at the start of each line: its depth"),
    "line_position": (r"\n", "the newline: when the line ends"),
    "bracket_depth": (r"[)\]}]", "closing brackets: whether and which one closes"),
    "inside_parens": (r"[)\]]", "the closing round or square bracket"),
    "sentence_end": (r"(?<=[.!?])\s+[A-Z]", "the whitespace and capital letter after a sentence end"),
    "inside_url": (r"(?:https?|ftp)://\S+|www\.\S+", "the URL's own characters"),
}

# The paper's best test cross-entropy (read as nats, see the docstring) on the corpus it compares with.
PAPER = {
    "code": {"corpus": "Linux kernel", "chars": 6_206_996, "best": 0.84, "ngram20": 0.889},
    "prose": {"corpus": "War and Peace", "chars": 3_258_256, "best": 1.077, "ngram20": 1.195},
}

TABLE_COLUMNS = ["corpus", "concept", "unit", "metric", "value", "chance_p99", "r", "where", "n_where",
                 "delta_bits", "random_median", "effect_ratio"]
CONSISTENT = 0.9  # "consistently saturated": on more than 90% of the steps


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="training budget per model, in minutes (default 30)")
    p.add_argument("--corpora", default="linux,austen",
                   help="comma-separated corpora: recipe names (linux is built if needed), bundled names or paths")
    p.add_argument("--layers", type=int, default=2, help="LSTM layers (default 2)")
    p.add_argument("--hidden", type=int, default=256, help="units per layer (default 256)")
    p.add_argument("--embed", type=int, default=64, help="character embedding width")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=64, help="parallel training streams")
    p.add_argument("--seq-len", type=int, default=128, help="truncated-BPTT window")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--eval-every", type=int, default=250, help="steps between validations (best weights are kept)")
    p.add_argument("--out", type=Path, default=EXPERIMENTS / "runs", help="root of the run folders")
    p.add_argument("--results-dir", type=Path, default=EXPERIMENTS, help="where results-<timestamp>.md goes")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="device for training, recording and ablation (default: cuda when there is one)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--random-units", type=int, default=20, help="random units per ablation baseline (default 20)")
    p.add_argument("--max-record-chars", type=int, default=300_000, help="test-split characters recorded (default 300k)")
    p.add_argument("--ablate-chars", type=int, default=100_000,
                   help="test-split characters scored per ablation pass (default 100k; 2 + --random-units passes per concept)")
    p.add_argument("--atlas-kinds", default="c,h", help="states searched by the atlas (default c,h; all: i,f,g,o,c,h)")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--progress", action="store_true", help="show progress bars")
    return p.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine_info(device: str) -> dict:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None
    return {"cpus": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": device + (f" ({gpu})" if gpu else ""), "python": platform.python_version(),
            "platform": platform.platform(), "load_1min": round(load, 2)}


def corpus_spec(name: str) -> str:
    """A corpus name as something `charnn.load_corpus` reads, building a recipe corpus if needed."""
    from charnn.corpus import bundled_corpora
    from charnn.recipes import RECIPES
    from charnn.recipes.cache import build_cached

    if Path(name).exists() or name in bundled_corpora():
        return name
    if name in RECIPES:
        folder, manifest, built = build_cached(name)
        log(f"corpus {name}: {'built' if built else 'cached'} at {folder} ({manifest['size']:,} bytes, "
            f"{manifest['license'].split(' ')[0]})")
        return str(folder)
    return name  # load_corpus raises a CorpusError that says what exists


def corpus_label(name: str) -> str:
    return Path(name.rstrip("/")).name.split(".")[0] or "corpus"


def train_model(spec: str, out: Path, args) -> dict:
    """Train within the time budget; returns summary.json plus the model and corpus sizes."""
    cfg = charnn.TrainConfig(corpus=spec, out=str(out), seq_len=args.seq_len, batch_size=args.batch_size,
                             lr=args.lr, max_steps=10**9, max_minutes=args.minutes, eval_every=args.eval_every,
                             seed=args.seed, device=args.device,
                             warmup_steps=min(100, max(1, int(args.minutes * 60))))
    trainer = charnn.Trainer(cfg, dict(cell="lstm", layers=args.layers, hidden=args.hidden, embed=args.embed,
                                       dropout=args.dropout))
    log(f"train {out.name}: {trainer.corpus.n_positions:,} chars, vocabulary {len(trainer.vocab)}, "
        f"{args.layers}x{args.hidden} LSTM, {args.minutes:g} min on {args.device}")
    summary = trainer.fit(progress=args.progress)
    if summary["interrupted"]:
        raise SystemExit(f"training of {out} was interrupted; the checkpoint is saved (charnn train --resume)")
    log(f"trained {out.name}: {summary['steps']} steps in {summary['seconds'] / 60:.1f} min, "
        f"best val {summary['best_val_bpc']:.3f}, test {summary['test_bpc']:.3f} bits/char")
    return {**summary, "n_chars": trainer.corpus.n_positions, "test_chars": len(trainer.splits["test"]),
            "vocab": len(trainer.vocab)}


def record_test(run, args):
    """Record the head of the test split with every LSTM state; returns the open Recording."""
    path = charnn.record(run, "test", name="test", kinds="i,f,g,o,c,h", max_chars=args.max_record_chars,
                         progress=args.progress, device=args.device)
    return charnn.open_recording(path)


def text_kind(text: str) -> str:
    """'code' or 'prose', by the same test the concepts use to decide whether comments exist."""
    return "prose" if code_language(text) is None else "code"


def best_units(rec, concepts: list[str], kinds: list[str], progress: bool) -> tuple[pd.DataFrame, dict]:
    """Each concept's best unit (atlas, top 1) and the concepts the text does not exercise."""
    per_concept, _ = atlas(rec, concepts=concepts, kinds=kinds, top=1, progress=progress)
    return per_concept, per_concept.attrs.get("skipped", {})


def score_columns(row) -> dict:
    """AUROC (as the separation max(AUROC, 1 - AUROC)) for binary concepts, |r| for continuous ones."""
    if row["binary"]:
        return {"metric": "AUROC", "value": max(row["auroc"], 1 - row["auroc"]), "chance_p99": row["baseline_auroc_p99"]}
    return {"metric": "|r|", "value": abs(row["r"]), "chance_p99": row["baseline_r_p99"]}


def ablation(run, unit: str, where: str, args) -> dict:
    """Zero `unit` everywhere; loss change on the `where` characters against random units."""
    try:
        res = ablate(run, "test", unit, mode="zero", where=where, random_units=args.random_units,
                     seed=args.seed, max_chars=args.ablate_chars, progress=args.progress, device=args.device)
    except RegexError as err:  # the selection is empty in the scored text
        log(f"ablation of {unit} skipped: {err}")
        return {"n_where": 0, "delta_bits": float("nan"), "random_median": float("nan"), "effect_ratio": float("nan")}
    return {"n_where": res.n_selected, "delta_bits": res.delta_selected, "random_median": res.random_median_selected,
            "effect_ratio": res.effect_ratio}


def concept_rows(label: str, run, per_concept: pd.DataFrame, concepts: list[str], skipped: dict, args) -> list[dict]:
    """One table row per concept: best unit, its score, chance, and the ablation effect."""
    rows = []
    for concept in concepts:
        where = ABLATIONS[concept][0]
        hit = per_concept[per_concept["concept"] == concept]
        if hit.empty:
            reason = skipped.get(concept, "not scored")
            rows.append({"corpus": label, "concept": concept, "unit": "-", "metric": "-", "value": float("nan"),
                         "chance_p99": float("nan"), "r": float("nan"), "where": where, "n_where": 0,
                         "delta_bits": float("nan"), "random_median": float("nan"), "effect_ratio": float("nan"),
                         "note": f"constant on this text: {reason}"})
            continue
        row = hit.iloc[0]
        unit = f"{int(row['layer'])}:{row['kind']}:{int(row['unit'])}"
        t0 = time.time()
        effect = ablation(run, unit, where, args)
        log(f"{label} {concept}: best {unit}, ablation {time.time() - t0:.0f} s, effect ratio {effect['effect_ratio']:.1f}")
        rows.append({"corpus": label, "concept": concept, "unit": unit, **score_columns(row), "r": float(row["r"]),
                     "where": where, **effect, "note": ""})
    return rows


def gate_saturation(rec) -> pd.DataFrame:
    """Per (layer, gate, unit) fraction of steps left- (< 0.1) and right- (> 0.9) saturated."""
    from charnn.gates import saturation  # the function the dashboard's Fig. 3 scatter draws

    return saturation(rec, rec.n_chars)


def saturation_summary(sat: pd.DataFrame) -> pd.DataFrame:
    """Per layer and gate: mean fractions, and how many units are saturated on most (> 50%) and on
    nearly all (> 90%: "consistently", the reading used for the paper's statements) of the steps."""
    groups = sat.groupby(["layer", "gate"], sort=True)

    def count(column: str, share: float) -> pd.Series:
        return groups[column].apply(lambda fractions: int((fractions > share).sum()))

    return pd.DataFrame({
        "units": groups.size(), "mean_left": groups["left"].mean(), "mean_right": groups["right"].mean(),
        "most_left": count("left", 0.5), "most_right": count("right", 0.5),
        "always_left": count("left", CONSISTENT), "always_right": count("right", CONSISTENT),
    }).reset_index()


def verdict(agrees: bool) -> str:
    return "agrees with" if agrees else "differs from"


def saturation_findings(summary: pd.DataFrame) -> list[str]:
    """The paper's Fig. 3 statements, each checked on this model ("consistently": > 90% of steps)."""
    f = summary[summary.gate == "f"]
    o = summary[summary.gate == "o"]
    right, left = int(f["always_right"].sum()), int(f["always_left"].sum())
    out = [f"forget gates consistently right-saturated (cells that remember): {right} of {int(f['units'].sum())} units; "
           f"consistently left-saturated (feed-forward cells): {left} -> {verdict(right > 0 and left == 0)} the paper "
           "(a few right, none left)"]
    ol, orr = int(o["always_left"].sum()), int(o["always_right"].sum())
    out.append(f"output gates consistently saturated: {ol} left, {orr} right -> {verdict(ol + orr == 0)} the paper "
               "(none consistently revealed or blocked)")
    per_layer = summary.assign(sat=summary.mean_left + summary.mean_right).groupby("layer")["sat"].mean()
    if len(per_layer) > 1:
        first, deeper = per_layer.iloc[0], per_layer.iloc[1:].mean()
        out.append(f"mean saturated fraction of the i/f/o gates: layer 0 {first:.2f}, deeper layers {deeper:.2f} -> "
                   f"{verdict(first < deeper)} the paper (first layer more diffuse)")
    else:
        out.append("one layer only: the paper's first-layer-versus-deeper comparison does not apply")
    return out


def paper_comparison(kind: str, summary: dict, params: int, args) -> dict:
    paper = PAPER[kind]
    return {"test_bpc": summary["test_bpc"], "paper_corpus": paper["corpus"], "paper_chars": paper["chars"],
            "paper_best_bpc": paper["best"] / LN2, "paper_best_nats": paper["best"],
            "paper_ngram_bpc": paper["ngram20"] / LN2, "our_chars": summary["n_chars"], "params": params,
            "model": f"{args.layers}x{args.hidden} LSTM", "minutes": summary["seconds"] / 60,
            "train_chars_seen": summary["train_chars_seen"]}


def study_corpus(name: str, root: Path, args) -> dict:
    """Every step of the study for one corpus; returns its rows, bpc comparison and saturation."""
    label, times = corpus_label(name), {}
    t0 = time.time()
    spec = corpus_spec(name)
    times["corpus"] = time.time() - t0
    t0 = time.time()
    summary = train_model(spec, root / label, args)
    times["train"] = time.time() - t0
    run = charnn.load_run(root / label)
    t0 = time.time()
    rec = record_test(run, args)
    times["record"] = time.time() - t0
    kind = text_kind(rec.string)
    concepts = CONCEPT_SETS[kind] + OPTIONAL_CONCEPTS
    t0 = time.time()
    per_concept, skipped = best_units(rec, concepts, args.atlas_kinds.split(","), args.progress)
    times["atlas"] = time.time() - t0
    reported = [c for c in concepts if c not in OPTIONAL_CONCEPTS or c not in skipped]
    t0 = time.time()
    rows = concept_rows(label, run, per_concept, reported, skipped, args)
    times["ablation"] = time.time() - t0
    sat = saturation_summary(gate_saturation(rec))
    params = sum(p.numel() for p in run.model.parameters())
    return {"label": label, "kind": kind, "rows": rows, "bpc": paper_comparison(kind, summary, params, args),
            "saturation": sat, "findings": saturation_findings(sat), "recorded_chars": rec.n_chars,
            "times": {k: round(v, 1) for k, v in times.items()}}


def fmt(value, digits: int = 3) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(columns: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def concept_table(results: list[dict]) -> str:
    header = ["corpus", "concept", "best unit", "metric", "value", "chance (p99)", "r", "ablation where",
              "n where", "Δ bits", "random median |Δ|", "effect ratio"]
    rows = []
    for res in results:
        for r in res["rows"]:
            rows.append([r["corpus"], r["concept"] + (f" ({r['note']})" if r["note"] else ""), r["unit"], r["metric"],
                         fmt(r["value"]), fmt(r["chance_p99"]), fmt(r["r"]), f"`{r['where']}`", r["n_where"],
                         fmt(r["delta_bits"], 4), fmt(r["random_median"], 4), fmt(r["effect_ratio"], 1)])
    return markdown_table(header, rows)


def ablation_notes(results: list[dict]) -> str:
    seen = dict.fromkeys(r["concept"] for res in results for r in res["rows"])
    return "\n".join(f"- {c}: `{ABLATIONS[c][0]}`, {ABLATIONS[c][1]}" for c in seen)


def bpc_table(results: list[dict]) -> str:
    header = ["corpus", "model", "params", "corpus chars", "chars seen", "minutes", "test bpc",
              "paper corpus", "paper chars", "paper best (bpc, from nats)", "paper 20-gram (bpc)"]
    rows = [[res["label"], b["model"], f"{b['params']:,}", f"{b['our_chars']:,}", f"{b['train_chars_seen']:,}",
             fmt(b["minutes"], 1), fmt(b["test_bpc"]), b["paper_corpus"], f"{b['paper_chars']:,}",
             f"{b['paper_best_bpc']:.3f} ({b['paper_best_nats']})", fmt(b["paper_ngram_bpc"])]
            for res in results for b in [res["bpc"]]]
    return markdown_table(header, rows)


def saturation_text(results: list[dict]) -> str:
    parts = []
    for res in results:
        sat = res["saturation"]
        rows = [[int(s.layer), s.gate, int(s.units), fmt(s.mean_left, 2), fmt(s.mean_right, 2), int(s.most_left),
                 int(s.most_right), int(s.always_left), int(s.always_right)] for s in sat.itertuples()]
        parts.append(f"**{res['label']}** (over {res['recorded_chars']:,} test characters; "
                     "left: < 0.1, right: > 0.9)\n\n" + markdown_table(
            ["layer", "gate", "units", "mean frac left", "mean frac right", "units left > 50%", "units right > 50%",
             "units left > 90%", "units right > 90%"], rows) + "\n\n" + "\n".join(f"- {f}" for f in res["findings"]))
    return "\n\n".join(parts)


def render(results: list[dict], info: dict, args, seconds: float, started: str) -> str:
    times = "; ".join(f"{r['label']}: " + ", ".join(f"{k} {v:.0f} s" for k, v in r["times"].items()) for r in results)
    return "\n\n".join([
        f"# charnn study, {started}",
        f"Machine: {info['cpus']} CPUs, torch {info['torch']} ({info['threads']} threads), device {info['device']}, "
        f"Python {info['python']}, load average at start {info['load_1min']}. Total time {seconds / 60:.1f} min ({times}).",
        f"Command: `python experiments/study.py {' '.join(sys.argv[1:] if args.argv is None else args.argv)}`",
        "## Best unit per concept\n\n"
        f"Atlas over the {args.atlas_kinds} states of the first {args.max_record_chars:,} test characters; "
        "AUROC is the separation max(AUROC, 1 - AUROC), chance is the 99th percentile over units against the target "
        f"shifted by a random offset. Ablation: the unit zeroed at every step over the first {args.ablate_chars:,} test "
        "characters; Δ bits is the mean loss change on the `where` characters; effect ratio = Δ / median |Δ| of "
        f"{args.random_units} random units of the same layer and kind.\n\n" + concept_table(results),
        "Why each ablation reads the loss where it does:\n\n" + ablation_notes(results),
        "## Test bits per character next to the paper\n\n"
        "Paper: Karpathy, Johnson, Fei-Fei 2015, best model's test cross-entropy (read as nats; checked against a "
        "third-party summary, model size from memory: up to 3 layers x 512 LSTM cells, trained to convergence on a GPU). "
        "Our Linux corpus is kernel/ + mm/ of Linux 6.1, not the paper's kernel snapshot; Austen is not War and Peace, "
        "so that row only says the order of magnitude.\n\n" + bpc_table(results),
        "## Gate saturation (paper Fig. 3)\n\n" + saturation_text(results),
    ]) + "\n"


def main(argv=None) -> dict:
    args = parse_args(argv)
    args.argv = argv
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start, started = time.time(), datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    info = machine_info(args.device)
    log(f"machine: {info}")
    root = args.out / stamp
    results = [study_corpus(name.strip(), root, args) for name in args.corpora.split(",") if name.strip()]
    seconds = time.time() - t_start
    text = render(results, info, args, seconds, started)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"results-{stamp}.md"
    path.write_text(text, encoding="utf-8")
    print(text)
    log(f"written {path}; runs in {root}; total {seconds / 60:.1f} min")
    table = pd.DataFrame([r for res in results for r in res["rows"]])
    return {"table": table, "results": results, "markdown": text, "path": path, "machine": info, "seconds": seconds}


if __name__ == "__main__":
    main()
