"""The compiled counting kernels (kldrift/_native.c); everything else is in pyproject.toml.

The extension is optional: where no C compiler is at hand, the build goes on without it and
kldrift counts with its numpy kernels, to the same results (kldrift.kernels.NATIVE says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "kldrift._native",
            ["kldrift/_native.c"],
            extra_compile_args=["-O3", "-std=c11", "-fno-strict-aliasing"],
            optional=True,
        )
    ]
)
