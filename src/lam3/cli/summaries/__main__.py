"""``python -m lam3.cli.summaries [docs/cli.md]``: regenerate the reference in docs/cli.md."""

import sys
from pathlib import Path

from lam3.cli.summaries.reference import update_docs

target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/cli.md")
print(f"{target}: {'updated' if update_docs(target) else 'up to date'}")
