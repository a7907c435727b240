"""Insider-risk analytics (issue 7): activity logs in, a short daily list of people worth a look out.

Pure package (no Django import): :mod:`~himitsu.insider.schema` (the store's tables and the shapes shared by
every part), ingest of CERT / Microsoft 365 / mapped logs into DuckDB, enrichment (people, calendars,
register), per user-day features, baselines and scores, and a generator of CERT-style logs for evaluation.
The web app (``himitsu.web.insider``) and the CLI (``himitsu insider``) are its callers.
"""
