"""Build charnn's optional C kernels; everything else is in pyproject.toml.

- charnn/search/_tilestats.c: the search's statistics over a recording's pages (charnn/search/native.py)
- charnn/recording/_pack.c: the recorder's copy of states into state files (charnn/recording/pack.py)
- charnn/_lstm_cell.c: the elementwise half of a stepped LSTM step (charnn/cells/lstm.py)
- charnn/attribution/_halflife.c: half-lives from decay gates, one pass per stream (charnn/attribution/memory.py)

`optional=True`: where there is no C compiler, or the flags are refused, pip installs charnn
without them and the search, the recorder and the stepper use torch ops instead.

The bundled corpora live in the checkout's top-level `corpora/`; a built wheel carries them as
`charnn/corpora/` (charnn.corpus_store finds either).
"""

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py


class BuildPyWithCorpora(build_py):
    """build_py, plus a copy of `corpora/` into the built package (an editable install reads the checkout's)."""

    def run(self):
        super().run()
        if not getattr(self, "editable_mode", False):
            shutil.copytree("corpora", Path(self.build_lib) / "charnn" / "corpora", dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".complete"))

FLAGS = ["-O3", "-ffp-contract=off"]  # AVX-512 and AVX2 loops are chosen at run time: no -march

HALF = ["charnn/_half.h"]  # float16 conversion shared by the two kernels that read or write float16

setup(cmdclass={"build_py": BuildPyWithCorpora},
      ext_modules=[Extension("charnn.search._tilestats", ["charnn/search/_tilestats.c"], extra_compile_args=FLAGS,
                             depends=HALF, optional=True),
                   Extension("charnn.recording._pack", ["charnn/recording/_pack.c"], extra_compile_args=FLAGS,
                             depends=HALF, optional=True),
                   Extension("charnn._lstm_cell", ["charnn/_lstm_cell.c"], extra_compile_args=FLAGS, optional=True),
                   Extension("charnn.attribution._halflife", ["charnn/attribution/_halflife.c"], extra_compile_args=FLAGS,
                             optional=True)])
