"""The read bench's deep page compares like with like: its pages hold rows of the first
page's shape, so the ratio to the first page measures depth, not the answers' sizes."""

from bench.reads import PAGE, deep_cursors

TAG = (True, True, False)
ARRAY = (False, False, False)


def rows(*runs: tuple[object, int]) -> list[tuple[str, object]]:
    shapes = [shape for shape, n in runs for _ in range(n)]
    return [(f"id-{i:05d}", shape) for i, shape in enumerate(shapes)]


def test_the_cursors_start_in_the_first_run_long_enough_for_every_page() -> None:
    need = 17 * PAGE
    shapes = rows((ARRAY, 300), (TAG, need - 1), (ARRAY, 10), (TAG, need + 5))
    found = deep_cursors(shapes, TAG)
    start = 300 + need - 1 + 10
    assert found == [f"id-{start + k * PAGE:05d}" for k in range(16)]


def test_no_run_long_enough_gives_none() -> None:
    assert deep_cursors(rows((TAG, 17 * PAGE - 1), (ARRAY, 5000)), TAG) is None
    assert deep_cursors([], TAG) is None
