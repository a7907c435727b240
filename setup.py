"""Declares the C extensions only; all project metadata lives in pyproject.toml."""

from setuptools import Extension, setup

_ENGINE = "src/himitsu/engine"

setup(
    ext_modules=[
        Extension(
            "himitsu.engine._siphash",
            [f"{_ENGINE}/_siphash.c"],
            depends=[f"{_ENGINE}/_siphash24.h"],
            extra_compile_args=["-O3"],
        ),
        Extension(
            "himitsu.engine._text",
            [f"{_ENGINE}/_text.c"],
            extra_compile_args=["-O3"],
        ),
        Extension(
            "himitsu.engine._xlsx",
            [f"{_ENGINE}/_xlsx.c"],
            extra_compile_args=["-O3"],
        ),
        Extension(
            "himitsu.engine._match",
            [f"{_ENGINE}/_match.c"],
            depends=[f"{_ENGINE}/_siphash24.h"],
            extra_compile_args=["-O3"],
        ),
    ],
)
