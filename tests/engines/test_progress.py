import io

from cx_text.engines.progress import ProgressReporter


def test_progress_never_passes_100_percent_when_the_count_was_low() -> None:
    seen: list[tuple[int, int | None]] = []
    stream = io.StringIO()
    with ProgressReporter(
        32, stream=stream, every_s=0, on_advance=lambda d, t: seen.append((d, t))
    ) as p:
        p.advance(20)
        p.advance(13)
    assert seen == [(20, 32), (33, 33)]
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("tag: 33/33 rows (100.0%)")
    assert all("103" not in line for line in lines)


def test_progress_without_a_total_counts_rows() -> None:
    stream = io.StringIO()
    with ProgressReporter(None, stream=stream, every_s=0) as p:
        p.advance(5)
    assert stream.getvalue().splitlines()[-1].startswith("tag: 5 rows · ")


def test_progress_closing_line_is_not_a_repeat() -> None:
    stream = io.StringIO()
    with ProgressReporter(1, stream=stream, every_s=0) as p:
        p.advance(1)
    assert len(stream.getvalue().splitlines()) == 1  # printed at the advance, not again at exit
    stream = io.StringIO()
    with ProgressReporter(3, stream=stream, every_s=3600) as p:
        p.advance(1)  # printed: the first line is never held back
        p.advance(2)  # held back by every_s, so the closing line says it
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("tag: 3/3 rows (100.0%)")
