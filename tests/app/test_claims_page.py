"""The Claims page renders every claim with its verdict, and offers the CSV."""
from tests.app.helpers import assert_clean, open_page, texts
from viz_core.measure.queue import SHARED


def test_claims_page_lists_every_claim():
    SHARED.clear()  # nothing measured yet on this "server"
    at = open_page("pages/claims.py")
    assert_clean(at)
    assert not at.dataframe  # the live rows are timed: they run on the button (fast first render)
    at.button(key="claims_go").click().run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["#"]) == list(range(1, 23))
    verdicts = {v.split(" ", 1)[1] for v in table["verdict"]}
    assert verdicts <= {"holds", "holds partly", "does not hold here", "not measured here"}
    assert "thread(s)" in texts(at) and at.get("download_button")


def test_slow_rows_are_estimated_first_and_run_with_progress_and_stop():
    """Issue #12: 'Also run the slow rows' ran ~30-100 s with no progress and no way to stop it. Now its
    estimate (above the 5 s progress threshold) is shown with a progress bar and a Stop button, and the slow
    rows come back measured."""
    from viz_core.labs import claims as lab
    from viz_core.measure import budget

    cfg = lab.Config(slow=True)
    assert lab.estimate_s(cfg) > budget.PROGRESS_AFTER_S > lab.estimate_s(lab.Config(slow=False))
    SHARED.clear()
    at = open_page("pages/claims.py")
    at.toggle(key="claims_slow").set_value(True).run(timeout=600)
    assert_clean(at)
    assert any(b.key == "claims_slow_run_stop" for b in at.button)
    bars = " ".join(str(p.proto.text) for p in at.get("progress"))
    assert "estimated" in bars and "done in" in bars, bars
    table = at.dataframe[0].value
    rows = dict(zip(table["#"], table["provenance"]))
    assert all(rows[c] != "on request" for c in (9, 12, 17, 18, 19)), rows
