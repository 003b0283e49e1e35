"""Benchmark suites for ``python -m viz_core bench <suite>``.

Each module here is a suite: it defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args, progress) -> list[dict]`` returning one flat dict per measured row. The runner adds the
hardware description, prints a table and writes CSV and JSON.
"""
