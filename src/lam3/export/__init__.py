"""Exports of a LAM3 run into peer formats: HarmBench completions/results, JailbreakBench artifacts, Parquet.

:mod:`lam3.export.run` reads the run (``response.jsonl`` + ``fused.jsonl``) and decides each
response's success; one small module per format writes it.
"""

FORMATS: tuple[str, ...] = ("harmbench-completions", "harmbench-results", "jbb", "parquet")
