"""Prompted judges: a published question about a response, asked of an LLM locally or over an endpoint.

``templates`` (the shipped prompts and their provenance), ``answers`` (how answers are read),
``config`` (the shared YAML keys), ``backend`` / ``local`` / ``endpoint`` (where the model runs)
and ``judge`` (the base class). The judges themselves live beside the others in
:mod:`lam3.judges` (harmbench, strongreject, jailbreakbench, llm_rubric).
"""
