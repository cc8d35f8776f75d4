"""A run folder: what training leaves behind, the one place that knows its files, and loading it
back without unpickling code.

    runs/<run>/
      config.json          model, training and corpus settings (JSON)
      vocab.json           the characters, in id order
      model.safetensors    weights of the best validation step
      checkpoint.pt        last state to resume from (tensors and numbers only; weights_only load)
      metrics.csv          one row per step: step, seconds, lr, train bpc, chars/s, val bpc
      summary.json         best and final numbers, test bpc
      recordings/<name>/   recorded states (see charnn.recording); step-XXXXXXX/ are probe
                           recordings made during training

    folder = RunFolder("runs/austen")
    folder.train_config()          # the saved TrainConfig fields (what --resume continues with)
    folder.corpus_split("val")     # the validation split of the corpus it was trained on
    run = load_run("runs/austen")  # Run: config, vocabulary and the best weights, ready to use
"""

from __future__ import annotations

import copy
import csv
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .corpus import Corpus, CorpusError, load_corpus
from .fsio import atomic_path, write_json
from .model import CharRNN, ModelConfig
from .vocab import Vocab

CONFIG = "config.json"
VOCAB = "vocab.json"
WEIGHTS = "model.safetensors"
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"
SUMMARY = "summary.json"
RECORDINGS = "recordings"
METRIC_FIELDS = ["step", "seconds", "lr", "train_bpc", "chars_per_s", "val_bpc"]
PROBE_NAME = re.compile(r"^step-(\d+)$")


class RunError(FileNotFoundError):
    """A run folder that is missing, incomplete or damaged."""


def probe_name(step: int) -> str:
    """The recording name of the probe recorded at a training step."""
    return f"step-{step:07d}"


class RunFolder:
    """The files of one run folder: every other module asks this class where a run keeps what."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def is_run(self) -> bool:
        return (self.path / CONFIG).is_file()

    def _json(self, name: str) -> dict:
        path = self.path / name
        if not path.is_file():
            raise RunError(f"run folder {self.path} has no {name}: train one with `charnn train CORPUS --out {self.path}`")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise RunError(f"{path} is damaged ({err}): it is not JSON") from None

    # ------------------------------------------------------------ configs
    def config(self) -> dict:
        """The whole config.json: {"model": ..., "train": ..., "corpus": ...}."""
        return self._json(CONFIG)

    def train_config(self) -> dict:
        """The training settings the run was started with (a TrainConfig's fields)."""
        return self.config().get("train", {})

    def vocab(self) -> Vocab:
        if not (self.path / VOCAB).is_file():
            raise RunError(f"run folder {self.path} has no {VOCAB}")
        return Vocab.load(self.path / VOCAB)

    def start(self, model_config: ModelConfig, vocab: Vocab, **sections) -> None:
        """Begin a fresh run here: remove what an earlier run left, write config, vocabulary and
        an empty metrics table. `sections` are further config.json entries (train, corpus)."""
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in (CHECKPOINT, WEIGHTS, METRICS, SUMMARY):
            (self.path / stale).unlink(missing_ok=True)
        vocab.save(self.path / VOCAB)
        write_json(self.path / CONFIG, {"model": asdict(model_config), **sections})
        with atomic_path(self.path / METRICS) as tmp:
            tmp.write_text(",".join(METRIC_FIELDS) + "\n")

    # ------------------------------------------------------------ weights and checkpoint
    def save_weights(self, model: CharRNN, name: str = WEIGHTS) -> None:
        save_weights(model, self.path / name)

    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).is_file()

    def checkpoint(self) -> dict:
        """The last training state; a damaged file is named, with what can still be used."""
        path = self.path / CHECKPOINT
        if not path.is_file():
            raise RunError(f"{self.path} has no {CHECKPOINT} to resume from: start the run again without --resume")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - torch raises many types for a truncated or foreign file
            raise RunError(
                f"{path} is damaged and cannot be resumed ({type(err).__name__}): the best weights in "
                f"{self.path / WEIGHTS} still load for sampling and recording; to train on, delete {CHECKPOINT} "
                "and start a new run") from None

    def save_checkpoint(self, payload: dict) -> None:
        with atomic_path(self.path / CHECKPOINT) as tmp:
            torch.save(payload, tmp)

    # ------------------------------------------------------------ metrics and summary
    def metrics(self) -> pd.DataFrame | None:
        """One row per step (METRIC_FIELDS), or None when the run has no metrics yet."""
        path = self.path / METRICS
        if not path.is_file():
            return None
        try:
            return pd.read_csv(path)
        except (ValueError, pd.errors.ParserError) as err:
            raise RunError(f"{path} is damaged: {err}") from None

    def truncate_metrics(self, step: int) -> None:
        """Drop the metric rows written after `step` (those of steps a resume will redo), and any
        row that is not whole (a kill mid-write) or repeats a step."""
        path = self.path / METRICS
        with open(path, newline="") if path.is_file() else open(os.devnull) as f:
            rows = list(csv.reader(f))
        keep, last = [METRIC_FIELDS], 0
        for r in rows[1:]:
            if len(r) == len(METRIC_FIELDS) and r[0].isdigit() and last < int(r[0]) <= step:
                keep.append(r)
                last = int(r[0])
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(keep)

    def metrics_log(self) -> "MetricsLog":
        """The metrics table, open for appending one row per step."""
        return MetricsLog(self.path / METRICS)

    def trained_steps(self) -> int:
        """Steps this folder's run has trained (0: none, or no run here)."""
        if not (self.has_checkpoint() or (self.path / WEIGHTS).is_file()):
            return 0
        path = self.path / METRICS
        with open(path, newline="") if path.is_file() else open(os.devnull) as f:
            return max(1, sum(1 for _ in f) - 1)

    def lock_file(self) -> Path:
        """The lock a trainer holds on this folder (beside it, so the folder itself stays a run's)."""
        resolved = self.path.resolve()
        return resolved.with_name(f".{resolved.name}.train.lock")

    def summary(self) -> dict | None:
        return self._json(SUMMARY) if (self.path / SUMMARY).is_file() else None

    def save_summary(self, summary: dict) -> None:
        write_json(self.path / SUMMARY, summary)

    # ------------------------------------------------------------ recordings
    @property
    def recordings_dir(self) -> Path:
        return self.path / RECORDINGS

    def recording_path(self, name: str) -> Path:
        return self.recordings_dir / name

    def probe_step(self, name: str) -> int | None:
        """The training step of a probe recording's name (step-XXXXXXX), None for any other name."""
        m = PROBE_NAME.match(name)
        return int(m.group(1)) if m else None

    # ------------------------------------------------------------ corpus
    def corpus_split(self, split: str) -> Corpus:
        """One split (train, val or test) of the corpus this run was trained on, read again from its
        source; a CorpusError when the source changed since (its split offsets would be wrong)."""
        config = self.config()
        info = config["corpus"]
        corpus = load_corpus(info["source"], errors=config["train"].get("encoding_errors", "strict"))
        start, stop = info["splits"][split]
        if corpus.n_positions != info["n_chars"]:
            raise CorpusError(f"the corpus {info['source']} changed since {self.path} was trained: "
                              "record a file instead of a split")
        return Corpus(corpus.slice_documents(start, stop), source=f"{info['source']}:{split}")

    @staticmethod
    def list(root: str | Path) -> list[str]:
        """Names of the run folders directly under root, sorted."""
        root = Path(root)
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and RunFolder(p).is_run())


class MetricsLog:
    """metrics.csv opened for appending: each row reaches the OS as it is written (a kill loses
    none), and `sync` makes them durable on disk before a checkpoint that counts them."""

    def __init__(self, path: Path):
        self.file = open(path, "a", newline="")
        self.writer = csv.writer(self.file)

    def write(self, row: list) -> None:
        self.writer.writerow(row)
        self.file.flush()

    def sync(self) -> None:
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


@dataclass
class Run:
    path: Path
    config: dict  # the whole config.json
    vocab: Vocab
    model: CharRNN

    @property
    def model_config(self) -> ModelConfig:
        return self.model.config

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.path)


def save_weights(model: CharRNN, path: Path) -> None:
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def create_run(path: Path, model: CharRNN, vocab: Vocab, **sections) -> Path:
    """Write a loadable run folder (config, vocabulary, weights) for `model`; `sections` are
    extra config.json entries (the trainer adds train and corpus)."""
    folder = RunFolder(path)
    folder.start(model.config, vocab, **sections)
    folder.save_weights(model)
    return folder.path


def load_run(path: str | Path, weights: str = WEIGHTS) -> Run:
    """Load a run's config, vocabulary and weights (best validation unless told otherwise)."""
    folder = RunFolder(path)
    if not folder.path.is_dir():
        raise RunError(f"run folder {folder.path} does not exist: train one with `charnn train CORPUS --out {folder.path}`")
    for name in (CONFIG, VOCAB, weights):
        if not folder.file(name).is_file():
            raise RunError(f"run folder {folder.path} has no {name}: training did not reach its first evaluation")
    config = folder.config()
    model = build_model(config.get("model") if isinstance(config, dict) else None, folder.file(weights),
                        folder.file(CONFIG), RunError)
    return Run(folder.path, config, folder.vocab(), model)


def build_model(settings, weights: Path, source: Path, error=RunError) -> CharRNN:
    """The model described by `settings` (the "model" entry of `source`: a run's config.json or a
    recording's meta.json) with the weights in `weights`, in eval mode. The settings are checked
    against the shapes stored in the weights' header before anything is allocated, so a damaged
    or hostile file is named (`error`) instead of filling the memory or crashing later."""
    try:
        config = ModelConfig(**settings)
    except (TypeError, ValueError) as err:
        raise error(f"{source} is damaged: its model settings are not valid ({err})") from None
    stored = stored_shapes(weights, error)
    if config.layers > len(stored):  # each layer stores tensors of its own: a cheap bound before building
        raise error(f"{source} says {config.layers} layers, but {weights} holds {len(stored)} tensors: one is damaged")
    try:
        with torch.device("meta"):  # shapes only, nothing allocated
            expected = {k: tuple(v.shape) for k, v in CharRNN(config).state_dict().items()}
    except (RuntimeError, ValueError, OverflowError) as err:  # sizes no tensor can have
        raise error(f"{source} is damaged: its model settings give impossible sizes ({err})") from None
    if expected != stored:
        bad = next((k for k in expected if stored.get(k) != expected[k]), None) or next(iter(set(stored) - set(expected)))
        raise error(f"{source} does not match {weights} ({bad}: the settings say {expected.get(bad)}, the weights "
                    f"hold {stored.get(bad)}): one of the two is damaged")
    model = CharRNN(config)
    model.load_state_dict(load_file(str(weights)))
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise error(f"{weights} holds NaN or infinite weights (a diverged run or a damaged file): nothing "
                    "sensible can be computed with it; retrain, or load another weights file")
    return model.eval()


def stored_shapes(weights: Path, error=RunError) -> dict[str, tuple]:
    """{name: shape} from a safetensors file's header, without reading the tensors."""
    try:
        with safe_open(str(weights), "pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types for a damaged file
        raise error(f"{weights} is damaged ({err}): retrain, or load another weights file") from None


def check_device(device) -> str:
    """`device` if this torch can run on it (cpu, or cuda/cuda:N with such a GPU), else ValueError
    saying what to use instead: checked before any work, so a bad --device leaves nothing behind."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {device!r} is not one torch knows: use cpu or cuda") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: this torch has no CUDA GPU (a CPU-only build, or no GPU visible): "
                             "use cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: there are {torch.cuda.device_count()} CUDA GPUs")
    elif parsed.type != "cpu":
        raise ValueError(f"device {device!r} is not supported by charnn: use cpu or cuda")
    return str(device)


def model_on(run: Run, device: torch.device | str) -> torch.nn.Module:
    """The run's model on `device`: itself when it is there already, else a copy (the run is not moved)."""
    model, device = run.model, torch.device(device)
    if next(model.parameters()).device == device:
        return model
    return copy.deepcopy(model).to(device)
