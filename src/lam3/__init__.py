"""LAM3: evaluate multimodal LLMs under jailbreak and adversarial-image attacks."""

__version__ = "0.1.0"
