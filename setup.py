"""Build hook for the compiled paint kernel; all other metadata is in pyproject.toml.

``optional``: without a C compiler the install still succeeds and drawing falls
back to numpy (``media_core.draw.native``); under ``CI=true`` a test fails
instead, so CI always exercises the compiled kernel.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "media_core.draw._paint",
            ["media_core/draw/_paint.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
