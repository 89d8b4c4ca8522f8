"""The shipped mini benchmark (``data/mini_bench``): its source, images and loader."""
