"""The only Streamlit-aware helpers: cache wrappers, shared controls, error display, page registry.

Never imports torch (a test enforces it); heavy work goes through ``viz_core``.
"""
