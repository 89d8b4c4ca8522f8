"""Builders for tiny, randomly initialised models saved locally (no hub): see ../shared/docs/tiny-models.md."""
