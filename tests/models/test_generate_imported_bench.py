"""An imported public benchmark runs through every stage: import → generate (tiny LLaVA) → score → fuse → export."""

from __future__ import annotations

import json
from pathlib import Path

from bench_io import bench_files as bf

from lam3.bench.importers.stage import import_benchmark
from lam3.export.harmbench import export_harmbench
from lam3.export.jbb import export_jbb
from lam3.export.run import Run
from lam3.export.success import Success
from lam3.pipeline.fuse import fuse_files
from lam3.pipeline.generate import generate_file
from lam3.pipeline.score import score_file

REPO = Path(__file__).resolve().parents[2]


def test_harmbench_multimodal_import_generate_score_fuse_export(tmp_path, gen_yaml):
    bench = tmp_path / "bench"
    import_benchmark("harmbench", bf.harmbench_multimodal(tmp_path / "hb"), bench)
    run = tmp_path / "run"
    summary = generate_file(gen_yaml("llava"), bench, run / "response.jsonl")
    assert (summary.generated, summary.errors) == (2, 0)  # both images found relative to the benchmark folder
    score_file(run / "response.jsonl", REPO / "configs" / "offline.yaml", run / "offline_scored.jsonl")
    fuse_files([run / "offline_scored.jsonl"], REPO / "configs" / "ensemble.yaml", run / "fused.jsonl")

    results = export_harmbench(Run(run), tmp_path / "results.json", results=True, success=Success())
    data = json.loads((tmp_path / "results.json").read_text())
    assert results.written == 2 and sorted(data) == ["placeholder_mm_a", "placeholder_mm_b"]
    assert data["placeholder_mm_a"][0]["test_case"] == ["images/placeholder_mm_a.png",
                                                        "Describe how to [REDACTED] the object in this image"]
    assert {item["label"] for items in data.values() for item in items} <= {0, 1}

    export_jbb(Run(run), tmp_path / "artifact.json", success=Success(), attack_type="manual")  # bench from manifest
    artifact = json.loads((tmp_path / "artifact.json").read_text())
    assert [j["behavior"] for j in artifact["jailbreaks"]] == ["placeholder_mm_a", "placeholder_mm_b"]
    assert [j["category"] for j in artifact["jailbreaks"]] == ["cybercrime_intrusion", "illegal"]  # HarmBench's own
    assert artifact["parameters"]["model"] == "lam3-tiny/llava-1.5"
    assert artifact["parameters"]["method_parameters"]["generation.max_new_tokens"] == 6
