"""``lam3 view``: a local web viewer of fused runs, with human review in the browser.

- :mod:`.index` builds one SQLite file per run from ``fused.jsonl`` (streaming; FTS5 for search),
  cached beside the run and rebuilt when the file changes;
- :mod:`.queries` turns the page's filters into SQL over that index (server-side paging);
- :mod:`.reviews` appends a browser label to ``reviews.jsonl`` in the format ``lam3 review import``
  writes, so ``lam3 fuse --reviews`` applies it;
- :mod:`.images` serves thumbnails only of images the records name, inside the run directory;
- :mod:`.server` is the Starlette app (token for writes, CSP, host check) and how uvicorn runs it;
- ``static/`` holds the page, its script and style (no CDN; the script builds the DOM with
  ``textContent`` only, so model text never becomes markup).
"""
