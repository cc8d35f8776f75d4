"""Build charnn's optional C kernels; everything else is in pyproject.toml.

- charnn/search/_tilestats.c: the search's statistics over a recording's pages (charnn/search/native.py)
- charnn/recording/_pack.c: the recorder's copy of states into state files (charnn/recording/pack.py)
- charnn/_lstm_cell.c: the elementwise half of a stepped LSTM step (charnn/cells/lstm.py)
- charnn/attribution/_halflife.c: half-lives from decay gates, one pass per stream (charnn/attribution/memory.py)

`optional=True`: where there is no C compiler, or the flags are refused, pip installs charnn
without them and the search, the recorder and the stepper use torch ops instead.
"""

from setuptools import Extension, setup

FLAGS = ["-O3", "-ffp-contract=off"]  # AVX-512 and AVX2 loops are chosen at run time: no -march

HALF = ["charnn/_half.h"]  # float16 conversion shared by the two kernels that read or write float16

setup(ext_modules=[Extension("charnn.search._tilestats", ["charnn/search/_tilestats.c"], extra_compile_args=FLAGS,
                             depends=HALF, optional=True),
                   Extension("charnn.recording._pack", ["charnn/recording/_pack.c"], extra_compile_args=FLAGS,
                             depends=HALF, optional=True),
                   Extension("charnn._lstm_cell", ["charnn/_lstm_cell.c"], extra_compile_args=FLAGS, optional=True),
                   Extension("charnn.attribution._halflife", ["charnn/attribution/_halflife.c"], extra_compile_args=FLAGS,
                             optional=True)])
