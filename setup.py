"""Build hook for the compiled drawing kernels; all other metadata is in pyproject.toml.

``optional``: without a C compiler the install still succeeds and drawing falls
back to numpy (``media_core.draw.native``); under ``CI=true`` a test fails
instead, so CI always exercises the compiled kernel.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            f"media_core.draw.{name}",
            [f"media_core/draw/{name}.c"],
            depends=["media_core/draw/_planes.h"],
            extra_compile_args=["-O3"],
            optional=True,
        )
        for name in ("_paint", "_stroke")
    ]
)
