"""Dataset-wide work on a Ray cluster (the optional ``cluster`` extra: ``pip install 'segstudio[cluster]'``).

The same runner, prediction files and project store as the in-process paths, spread over Ray
workers: ``prelabel`` (Ray Data ``map_batches`` over an actor pool, one loaded model per actor)
and ``evaluate`` (per-image sums as Ray tasks). Ray is imported here and nowhere else; only
``segstudio.commands`` and ``segstudio.benchmarks`` import this package, and only when a
``--cluster`` other than ``local`` is asked for, so neither the app nor the command line's
start-up ever loads Ray. Importing this package itself does not import Ray.
"""
