"""Declares the C extension only; all project metadata lives in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "himitsu.engine._siphash",
            ["src/himitsu/engine/_siphash.c"],
            extra_compile_args=["-O3"],
        )
    ],
)
