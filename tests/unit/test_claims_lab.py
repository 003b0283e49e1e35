"""The Claims page's lab: one row per claim of CLAIMS.md, verdicts from the judges, provenance on every row."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from viz_core.claims import CLAIMS, Verdict
from viz_core.labs import claims as lab

SHARED = Path(__file__).resolve().parents[3] / "shared" / "CLAIMS.md"


def claims_md_ids() -> list[int]:
    """Claim ids from the table of ../shared/CLAIMS.md (rows '| 12 | ... |')."""
    return [int(m) for m in re.findall(r"^\|\s*(\d+)\s*\|", SHARED.read_text(encoding="utf-8"), flags=re.M)]


@pytest.fixture(scope="module")
def res():
    return lab.run(lab.Config(device="cpu"))


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/CLAIMS.md is not beside this checkout")
def test_every_claim_of_claims_md_has_a_row(res):
    ids = claims_md_ids()
    assert len(ids) >= 20
    assert set(ids) <= {r.id for r in res.rows}


def test_one_row_per_claim_with_provenance_and_page(res):
    assert [r.id for r in res.rows] == sorted(CLAIMS)
    for r in res.rows:
        assert r.verdict in {v.value for v in Verdict} and r.why and r.provenance, r
        assert r.page, r  # every claim links the page that teaches it
    by = {r.id: r for r in res.rows}
    assert by[1].verdict == "holds" and by[1].provenance.startswith("computed")
    assert by[11].provenance.startswith("measured live")  # the tiny GPTs' cache bytes, measured now
    assert by[6].provenance.startswith("recorded") and "attention-cpu.json" in by[6].provenance
    assert by[9].verdict == "not measured here" and "slow" in by[9].why  # slow rows run only on request
    assert by[21].provenance.startswith("recorded") and by[22].verdict != "not measured here"
    # "measured live" only where the value was measured in this run
    assert not any(r.provenance.startswith("measured live") for r in res.rows if r.id in (1, 2, 3, 10, 14, 15))


def test_csv_has_every_row(res):
    rows = list(csv.DictReader(io.StringIO(lab.to_csv(res))))
    assert [int(r["id"]) for r in rows] == sorted(CLAIMS)
    assert all(r["device"] == "cpu" and r["measured_at"] for r in rows)


def test_bad_threads():
    from viz_core.errors import InputError

    with pytest.raises(InputError):
        lab.run(lab.Config(threads=0))


def test_cli_prints_the_same_table(tmp_path, capsys):
    from viz_core.cli.runner import main

    assert main(["bench", "claims", "--device", "cpu", "--threads", "1", "--out-dir", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "claims-cpu.csv").open(encoding="utf-8")))
    assert [int(r["id"]) for r in rows] == sorted(CLAIMS)
    assert {r["verdict"] for r in rows} <= {v.value for v in Verdict}
