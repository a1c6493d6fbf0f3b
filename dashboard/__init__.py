"""Streamlit dashboard over the DuckDB store: ``streamlit run dashboard/app.py``.

``app.py`` only sets up navigation; each page is one file in ``views/`` (not ``pages/``:
Streamlit would also auto-register that folder as legacy pages); every query goes through
``store.py`` (read-only, cached); charts are built in ``charts.py``.
"""
