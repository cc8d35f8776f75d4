"""A unit of a model or a recording: (layer, kind, index), written `LAYER:KIND:UNIT`.

    from charnn.units import Unit
    u = Unit.parse("0:c:37")        # Unit(layer=0, kind='c', index=37)
    str(u)                          # '0:c:37'
    u.check(layers=2, kinds=("c", "h"), width=256)   # ValueError saying what exists

Kinds are the model's states (LSTM `i f g o c h`, GRU `r z n h`, RNN `h`) or a kind added to a
recording later, such as a sparse autoencoder's latents (`sae-NAME`, `is_latent`). A kind name is
`check_kind`'s: a lowercase letter, then lowercase letters, digits, `_` and `-`, 32 characters at most
(it is a folder name, kind=K, in the recording, and the middle of LAYER:KIND:UNIT). Every command,
search result, dashboard view and causal test names units this way, and parses them here.

A unit's value is its stored value (`unit_value`): a cell state c as stored, not tanh(c). explain,
search, the atlas, probes and the dashboard's scores all correlate this value, so that one unit and
one explanation have one r; tanh(c) is only the dashboard's colour scale for c.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KIND_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
LATENT_PREFIX = "sae-"  # the kinds that hold a sparse autoencoder's latents (charnn.sae.kind)


def unit_value(kind: str, stored):
    """The value of units of `kind` that every score correlates, from the stored array: the stored
    value itself, for every kind (see the module docstring)."""
    return stored


def check_kind(kind) -> str:
    """`kind` if it is a kind name, else a ValueError that says what one is."""
    if not isinstance(kind, str) or not KIND_NAME.fullmatch(kind):
        raise ValueError(f"kind name {kind!r}: use a lowercase letter, then lowercase letters, digits, _ and - "
                         "(32 characters at most), such as c, f or sae-c0-2048-k32")
    return kind


def is_latent(kind: str) -> bool:
    """Whether `kind` holds an autoencoder's latents (sae-NAME), not states of the model."""
    return kind.startswith(LATENT_PREFIX)


@dataclass(frozen=True, order=True)
class Unit:
    layer: int
    kind: str
    index: int

    def __post_init__(self):
        if not isinstance(self.layer, int) or self.layer < 0:
            raise ValueError(f"layer must be a non-negative integer, not {self.layer!r}")
        check_kind(self.kind)
        if not isinstance(self.index, int) or self.index < 0:
            raise ValueError(f"unit index must be a non-negative integer, not {self.index!r}")

    @classmethod
    def parse(cls, spec) -> "Unit":
        """'LAYER:KIND:UNIT' (or a Unit, or a (layer, kind, index) triple) -> Unit."""
        if isinstance(spec, Unit):
            return spec
        if isinstance(spec, (tuple, list)) and len(spec) == 3:
            layer, kind, index = spec
            return cls(int(layer), str(kind), int(index))
        parts = str(spec).strip().split(":")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit() or not KIND_NAME.fullmatch(parts[1]):
            raise ValueError(f"unit {spec!r} is not LAYER:KIND:UNIT, e.g. 0:c:37")
        return cls(int(parts[0]), parts[1], int(parts[2]))

    def __str__(self) -> str:
        return f"{self.layer}:{self.kind}:{self.index}"

    def check(self, layers: int, kinds, width: int) -> "Unit":
        """This unit, if layer < layers, kind in kinds and index < width; else a ValueError
        listing what exists. Returns self, so `Unit.parse(s).check(...)` reads as one step."""
        if self.layer >= layers:
            raise ValueError(f"unit {self}: layer {self.layer} does not exist (layers 0..{layers - 1})")
        if self.kind not in kinds:
            raise ValueError(f"unit {self}: kind {self.kind!r} does not exist (kinds {', '.join(kinds)})")
        if self.index >= width:
            raise ValueError(f"unit {self}: unit {self.index} does not exist (units 0..{width - 1})")
        return self
