"""Every page runs under AppTest at its default settings with no exception and no error box."""
import pytest

from tests.app.helpers import assert_clean, open_page
from ui import registry

PAGES = registry.discover_pages()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.url_path or "home")
def test_page_renders(page):
    at = open_page(page.path)
    assert_clean(at)
    assert at.get("title") or at.get("markdown"), "page shows nothing"
