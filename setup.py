"""The optional C extension's build; everything else about the package is in pyproject.toml.

``segstudio._native.pixels`` (in ``segstudio/_native/``: PNG unfiltering and run finding in
``pixels.c``, PQ's matching in ``pq_match.c``, SAM's mask upscaling in ``sam_kernels.c``, a SAM
click's softmaxes in ``sam_softmax.c``) is
optional: where it does not compile, the install goes on and the pure Python/libpng paths run, only
slower. The dev install (``make``) checks that it was built.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "segstudio._native.pixels",
            [
                "segstudio/_native/pixels.c",
                "segstudio/_native/pq_match.c",
                "segstudio/_native/sam_kernels.c",
                "segstudio/_native/sam_softmax.c",
            ],
            optional=True,
        )
    ]
)
