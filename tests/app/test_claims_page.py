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
