"""Pure figure builders: result dataclass -> plotly Figure (or altair Chart). One module per subject.

Conventions (see ``theme.py``): every figure gets ``style(fig, ...)``; axis titles carry units; colour
scales come from ``theme``; no figure reads global state, so tests can assert on ``fig.data``.
"""
