"""The committed protobuf code is what the committed protos generate (CI also runs `make gen-check`)."""

from __future__ import annotations

from pathlib import Path

from server.api.protos import GEN_DIR, generate_into, stale_files


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    fresh = tmp_path / "gen"
    generate_into(fresh)
    assert stale_files(GEN_DIR, fresh) == [], "run `make gen` and commit server/api/gen"


def test_stale_detection_works(tmp_path: Path) -> None:
    fresh = tmp_path / "gen"
    generate_into(fresh)
    (fresh / "openinterest" / "v1" / "open_interest_pb2.py").write_text("# edited\n")
    assert stale_files(GEN_DIR, fresh) == ["openinterest/v1/open_interest_pb2.py"]
