"""The ViT patching and patch-embedding pages respond to their controls."""
from tests.app.helpers import assert_clean, open_page, plotly_specs, texts


def _metric(at, label):
    return next(m.value for m in at.get("metric") if m.label == label)


def test_patch_size_changes_token_count():
    at = open_page("pages/vit_patching.py")
    assert_clean(at)
    assert _metric(at, "Tokens") == "196"
    at.select_slider(key="patch_size").set_value(8).run()
    assert_clean(at)
    assert _metric(at, "Tokens") == f"{28 * 28:,}"
    at.select_slider(key="patch_image_size").set_value(512).run()
    assert _metric(at, "Tokens") == f"{64 * 64:,}"
    assert "1,048,576" in texts(at)  # claim #15 arithmetic shown


def test_patch_size_that_does_not_divide_gets_a_note_not_an_error():
    at = open_page("pages/vit_patching.py")
    at.select_slider(key="patch_image_size").set_value(160).run()
    at.select_slider(key="patch_size").set_value(7).run()
    assert_clean(at)
    assert any("does not divide" in i.value for i in at.info)
    assert _metric(at, "Tokens") == f"{23 * 23:,}"  # 160 -> 161 = 23·7


def test_sample_choice_changes_the_picture():
    at = open_page("pages/vit_patching.py")
    before = plotly_specs(at)[0]["data"][0]["source"]
    at.selectbox(key="patching_sample").set_value("rocket").run()
    assert_clean(at)
    assert plotly_specs(at)[0]["data"][0]["source"] != before


def test_embedding_page_reports_exactness_and_reacts():
    at = open_page("pages/patch_embedding.py")
    assert_clean(at)
    err = float(_metric(at, "max |conv − (unfold+linear)|"))
    assert err < 1e-4
    assert _metric(at, "Tokens × dims") == "196 × 192"
    at.select_slider(key="emb_patch").set_value(32).run()
    assert_clean(at)
    assert _metric(at, "Tokens × dims") == "49 × 192"
    at.select_slider(key="emb_image_size").set_value(1024).run()
    assert_clean(at)
    # 1024 px with 2 px patches (262,144 tokens) is over the request budget: the widget no longer offers it
    # (issue #12: a widget never allows a value its code always refuses); the code's refusal is unit-tested.
    assert "2" not in at.select_slider(key="emb_patch").options and "16" in at.select_slider(key="emb_patch").options
