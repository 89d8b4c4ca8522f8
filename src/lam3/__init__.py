"""LAM3: evaluate multimodal LLMs under jailbreak and adversarial-image attacks."""

__version__ = "0.1.0"
"""The package version: pyproject.toml reads it from here; ``lam3 --version`` prints it."""
