"""The command line: ``python -m viz_core bench <suite>`` and ``python -m viz_core suites``.

``runner`` discovers the suites in ``suites/``, runs one, prints a table and writes CSV + JSON.
"""
