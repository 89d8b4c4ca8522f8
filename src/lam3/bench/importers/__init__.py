"""Importers of public benchmarks (from files the user downloaded) into LAM3 samples.

One small module per format over :mod:`lam3.bench.importers.base`; the import stage is
:mod:`lam3.bench.importers.stage`; each benchmark's category table is ``taxonomy/<name>.yaml``.
Modules are imported on demand, so ``lam3 --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lam3.errors import UserError

if TYPE_CHECKING:
    from lam3.bench.importers.base import Importer

FORMATS: dict[str, str] = {
    "harmbench": "lam3.bench.importers.harmbench:HarmBench",
    "jbb": "lam3.bench.importers.jbb:JailbreakBench",
    "strongreject": "lam3.bench.importers.strongreject:StrongReject",
    "xstest": "lam3.bench.importers.xstest:XSTest",
    "figstep": "lam3.bench.importers.figstep:FigStep",
    "mmsafetybench": "lam3.bench.importers.mmsafetybench:MMSafetyBench",
    "jailbreakv": "lam3.bench.importers.jailbreakv:JailBreakV",
    "msts": "lam3.bench.importers.msts:MSTS",
}
"""Format name (as on the command line) → ``module:Importer class``."""


def format_class(formats: dict[str, str], name: str, what: str, field: str) -> Any:
    """The class ``formats[name]`` (``module:Class``) names, imported on demand; an unknown name lists the known."""
    target = formats.get(name)
    if target is None:
        raise UserError(f"unknown {what} {name!r} (one of: {', '.join(formats)})", field=field)
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def get_importer(name: str) -> type[Importer]:
    return format_class(FORMATS, name, "benchmark format", "FORMAT")
