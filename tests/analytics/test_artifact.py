"""Model artifacts: JSON that round-trips exactly, refuses what is not a model, the committed bundled one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analytics.artifact import (
    ARTIFACT_VERSION,
    ArtifactError,
    bundled_path,
    default_scorer,
    load_model,
    load_scorer,
    model_from_bytes,
    model_to_bytes,
    save_model,
)
from analytics.catalogue import catalogue_examples
from analytics.model import SeverityModel
from analytics.scoring import ScoringContext


@pytest.mark.parametrize("which", ["default_model", "team_model"])
def test_save_and_load_round_trip_exactly(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    model: SeverityModel = request.getfixturevalue(which)
    loaded = load_model(save_model(model, tmp_path / "model.json"))
    assert loaded.version == model.version
    assert loaded.feature_names == model.feature_names
    assert loaded.content.options == model.content.options
    assert loaded.content.classes == model.content.classes
    assert loaded.summary == model.summary
    assert model_from_bytes(model_to_bytes(model)).version == model.version
    scorer, again = model.scorer(), load_scorer(tmp_path / "model.json")
    for e in catalogue_examples(seed=11)[::5]:
        assert np.array_equal(loaded.content.decision(e.alert), model.content.decision(e.alert))
        assert again.score(e.alert, e.context) == scorer.score(e.alert, e.context)


def test_load_refuses_other_files_and_tampered_coefficients(
    team_model: SeverityModel, tmp_path: Path
) -> None:
    path = save_model(team_model, tmp_path / "model.json")
    document = json.loads(path.read_text())
    document["content"]["coef"][0][0] += 1.0
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="recorded version"):
        load_model(path)
    (tmp_path / "other.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a sevbot"):
        load_model(tmp_path / "other.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format_version=2), "unsupported model format version 2"),
        (lambda d: d.update(format_version=99), "unsupported model format version 99"),
        (lambda d: d["content"].pop("coef"), "malformed model artifact: KeyError"),
        (lambda d: d["content"].update(coef=[[1.0, 2.0]]), "do not match"),
        (lambda d: d["content"].update(classes=["SEV1", "SEV9", "SEV3", "SEV4"]), "malformed model artifact"),
        (lambda d: d["content"].update(feature_names=[1, 2]), "feature_names must be a list of strings"),
        (lambda d: d["content"].update(kind="pickle"), "unknown content kind 'pickle'"),
        (lambda d: d["content"].update(edges=[1.0, 2.0, 3.0]), "three decreasing numbers"),
        (lambda d: d["content"]["options"].update(run="os.system"), "malformed model artifact: TypeError"),
        (lambda d: d.update(summary=[]), "summary and provenance must be objects"),
    ],
)
def test_load_names_what_is_wrong_with_a_malformed_artifact(
    team_model: SeverityModel, tmp_path: Path, change: Any, message: str
) -> None:
    document = json.loads(save_model(team_model, tmp_path / "model.json").read_text())
    change(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match=message):
        load_model(path)


def test_load_rejects_files_that_are_not_json_objects(tmp_path: Path) -> None:
    for name, text in (("half.json", '{"format": "sevbot-sev'), ("list.json", "[1, 2]")):
        (tmp_path / name).write_text(text)
    with pytest.raises(ArtifactError, match="not JSON"):
        load_model(tmp_path / "half.json")
    with pytest.raises(ArtifactError, match="not a sevbot severity model"):
        load_model(tmp_path / "list.json")
    (tmp_path / "latin1.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ArtifactError, match="unreadable"):
        load_model(tmp_path / "latin1.json")
    with pytest.raises(ArtifactError, match="unreadable"):
        load_model(tmp_path / "missing.json")
    with pytest.raises(ArtifactError, match="not a loadable"):
        model_from_bytes(b"\xff")


def test_the_bundled_model_ships_in_the_package_small_and_loads_without_training() -> None:
    path = bundled_path()
    assert path.stat().st_size < 2_000_000
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format_version"] == ARTIFACT_VERSION
    assert set(document) == {"format", "format_version", "version", "content", "summary", "provenance"}
    assert document["content"]["kind"] == "urgency" and document["content"]["text"] is None
    assert set(document["provenance"]["licences"]) == {"CC-BY-4.0", "Apache-2.0"}
    scorer = default_scorer()
    assert scorer.version == document["version"]
    assert scorer.model.reference is None  # loaded from the file, not trained
    example = catalogue_examples(seed=1)[0]
    assert scorer.score(example.alert, ScoringContext()).model_version == scorer.version


def test_the_bundled_model_holds_no_rule_text(real_rules: list[dict[str, Any]]) -> None:
    text = bundled_path().read_text(encoding="utf-8")
    prose = {r[key] for r in real_rules for key in ("summary", "description") if len(r[key] or "") >= 40}
    assert len(prose) > 1000
    assert [p for p in prose if json.dumps(p)[1:-1] in text] == []
