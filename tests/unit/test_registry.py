"""ui.registry: page discovery is shared by concurrent sessions; the lesson covers every page."""
import threading
from pathlib import Path

from ui import registry


def test_discovery_from_many_threads_at_once():
    errors: list[BaseException] = []

    def walk():
        try:
            for _ in range(30):
                assert registry.discover_pages()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=walk) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:1]


def test_every_page_is_in_the_lesson_or_explicitly_out():
    stems = {Path(p.path).stem for p in registry.discover_pages()}
    assert stems - set(registry.LESSON) - set(registry.NOT_IN_LESSON) == set()
    assert [Path(p.path).stem for p in registry.lesson()] == [s for s in registry.LESSON if s in stems]
