"""Recordings: per-timestep states of every layer, and the model's per-character loss and
predictions, for a text, stored as Parquet (see `layout` for the folder contract).

    from charnn.recording import record, open_recording
    path = record("runs/austen", "val", kinds="c,h")
    rec = open_recording(path)
"""

from .layout import is_recording, probe_steps, recordings
from .manifest import RecordingError
from .reader import Recording, open_recording, scan_blocks
from .writer import record

__all__ = ["Recording", "RecordingError", "is_recording", "open_recording", "probe_steps", "record", "recordings",
           "scan_blocks"]
