"""Build the search's optional C kernel (charnn/search/_tilestats.c); everything else is in pyproject.toml.

`optional=True`: where there is no C compiler, or the flags are refused, pip installs charnn
without it and the search uses its torch path (charnn/search/native.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("charnn.search._tilestats", ["charnn/search/_tilestats.c"],
                             extra_compile_args=["-O3", "-ffp-contract=off"],  # AVX-512 chosen at run time
                             optional=True)])
