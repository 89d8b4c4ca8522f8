"""LAM3 next to other tools: Inspect AI scorers (:mod:`.inspect`) and peer logs read as responses."""
