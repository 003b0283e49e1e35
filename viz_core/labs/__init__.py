"""Page back-ends: one module per page, each with its frozen Config, its Result dataclass (numpy arrays
and plain numbers), ``run()`` and that page's claim checks. Labs combine techniques and measurements;
techniques never import labs.
"""
