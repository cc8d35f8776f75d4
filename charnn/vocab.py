"""Character vocabulary: characters <-> integer ids, saved with every run as `vocab.json`.

Two ids are reserved: `UNK_ID` for any character the training text never contained (so sampling
or recording an unseen text maps it instead of crashing) and `DOC_ID`, the document boundary
inserted between the files of a folder corpus so that training never runs across two documents
as if they were contiguous.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

UNK_ID = 0
DOC_ID = 1
RESERVED = ("<unk>", "<doc>")


class Vocab:
    """An ordered list of characters; id = index + len(RESERVED)."""

    def __init__(self, chars: list[str]):
        assert len(set(chars)) == len(chars), "vocabulary characters must be unique"
        assert all(len(c) == 1 for c in chars), "vocabulary entries must be single characters"
        self.chars = list(chars)
        self.char_to_id = {c: i + len(RESERVED) for i, c in enumerate(self.chars)}
        # Sorted code points and their ids, for vectorised encoding of long texts.
        codepoints = np.array([ord(c) for c in self.chars], dtype=np.int64)
        order = np.argsort(codepoints)
        self._sorted_codepoints = codepoints[order]
        self._sorted_ids = (order + len(RESERVED)).astype(np.int64)

    @classmethod
    def from_texts(cls, texts) -> "Vocab":
        counts: Counter = Counter()
        for text in texts:
            counts.update(text)
        return cls(sorted(counts))

    def __len__(self) -> int:
        return len(self.chars) + len(RESERVED)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def encode(self, text: str) -> np.ndarray:
        """Ids of `text` as int64; unknown characters become UNK_ID."""
        if not text:
            return np.zeros(0, dtype=np.int64)
        codepoints = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        codepoints = codepoints.astype(np.int64)
        pos = np.searchsorted(self._sorted_codepoints, codepoints)
        pos = np.minimum(pos, len(self._sorted_codepoints) - 1)
        known = self._sorted_codepoints[pos] == codepoints
        return np.where(known, self._sorted_ids[pos], UNK_ID)

    def decode(self, ids) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i == DOC_ID:
                out.append("\n")
            elif i == UNK_ID:
                out.append("\ufffd")
            else:
                out.append(self.chars[i - len(RESERVED)])
        return "".join(out)

    def id_to_char(self, i: int) -> str:
        """Display form of one id (reserved ids shown by name)."""
        return RESERVED[i] if i < len(RESERVED) else self.chars[i - len(RESERVED)]

    def save(self, path: Path) -> None:
        payload = {"reserved": list(RESERVED), "chars": self.chars}
        Path(path).write_text(json.dumps(payload, ensure_ascii=False, indent=0), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "Vocab":
        """The vocabulary saved at `path`; a damaged file is named (ValueError) rather than half-read."""
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is damaged (not JSON: {err}): copy it from the run again, or retrain") from None
        if not isinstance(payload, dict) or payload.get("reserved") != list(RESERVED):
            raise ValueError(f"{path} is damaged or from another charnn: its reserved ids differ from {RESERVED}")
        chars = payload.get("chars")
        if not isinstance(chars, list) or not all(isinstance(c, str) and len(c) == 1 for c in chars) \
                or len(set(chars)) != len(chars):
            raise ValueError(f"{path} is damaged: its chars must be a list of distinct single characters")
        return cls(chars)
