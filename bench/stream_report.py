"""The serving bench's tables: one per scenario, a row per server, and the
ratio of each row's key figure to FastAPI's and raw ASGI's from the same run."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench import stream_stats as st
from bench.stream_client import StreamResult
from bench.stream_figures import Config, Run, Rung, ServerRun
from bench.stream_stats import Column, ms, num


def report(config: Config, runs: Sequence[ServerRun], header: Sequence[str] = ()) -> str:
    ok = {r.name: r for r in runs if not r.broken}
    names = list(ok)
    parts = ["\n".join(header)] if header else []
    parts.append(_idle(config, names, ok))
    parts.append(_burst(config, names, ok))
    parts.append(_starts(config, names, ok))
    for n in config.ladder:
        ran = [name for name in names if ok[name].rung(n) is not None]
        if ran:
            parts.append(_rung(config, n, ran, ok))
    if steady := _steady(config, names, ok):
        parts.append(steady)
    parts.append(_capacity(config, names, ok))
    for run in runs:
        if run.broken:
            parts.append(f"{run.name}: not measured ({run.broken})")
    return "\n\n".join(parts) + "\n"


def _pick(
    by: dict[str, ServerRun], scenario: Callable[[ServerRun], Run | None]
) -> Callable[[Callable[[Run], float | None]], Callable[[str], float | None]]:
    """``figure(run)`` of each server's run of a scenario, by server name."""

    def figure(compute: Callable[[Run], float | None]) -> Callable[[str], float | None]:
        def of(name: str) -> float | None:
            run = scenario(by[name])
            return compute(run) if run is not None and run.results else None

        return of

    return figure


def _pct(pick: Callable[[StreamResult], float | None], q: float) -> Callable[[Run], float | None]:
    return lambda run: st.percentile(run.values(pick), q)


def _max(pick: Callable[[StreamResult], float | None]) -> Callable[[Run], float | None]:
    return lambda run: max(run.values(pick), default=None)


def _errors(run: Run) -> float | None:
    return st.outcome(run.results).errors


def _reconnects(run: Run) -> float | None:
    return st.outcome(run.results).reconnects


def _ms(of: Callable[[str], float | None]) -> Callable[[str], str]:
    return lambda name: ms(of(name))


def _int(of: Callable[[str], float | None]) -> Callable[[str], str]:
    return lambda name: num(of(name), 0)


def _send(r: StreamResult) -> float | None:
    return r.send_s


def _ttft(r: StreamResult) -> float | None:
    return r.ttft_s


def _idle(config: Config, names: list[str], by: dict[str, ServerRun]) -> str:
    f = _pick(by, lambda s: s.idle)
    ttft50 = f(_pct(_ttft, 50))
    return st.table(
        f"Idle: {config.idle_streams} streams one at a time ({config.idle_words} words), ms"
        " (ratios: ttft p50)",
        names,
        [
            Column("send p50", _ms(f(_pct(_send, 50)))),
            Column("send p99", _ms(f(_pct(_send, 99)))),
            Column("ttft p50", _ms(ttft50)),
            Column("ttft p99", _ms(f(_pct(_ttft, 99)))),
            Column("1st word p50", _ms(f(_pct(st.first_word_s, 50)))),
            Column("1st word p99", _ms(f(_pct(st.first_word_s, 99)))),
            Column("reconn", _int(f(_reconnects))),
            Column("errors", _int(f(_errors))),
        ],
        key=ttft50,
    )


def _burst(config: Config, names: list[str], by: dict[str, ServerRun]) -> str:
    f = _pick(by, lambda s: s.burst)
    ttft99 = f(_pct(_ttft, 99))
    return st.table(
        f"Burst: {config.burst_streams} new streams within {config.spread_s:g} s"
        f" ({config.burst_words} words), ms (ratios: ttft p99)",
        names,
        [
            Column("send p99", _ms(f(_pct(_send, 99)))),
            Column("ttft p99", _ms(ttft99)),
            Column("ttft max", _ms(f(_max(_ttft)))),
            Column("1st word p99", _ms(f(_pct(st.first_word_s, 99)))),
            Column("1st word max", _ms(f(_max(st.first_word_s)))),
            Column("reconn", _int(f(_reconnects))),
            Column("errors", _int(f(_errors))),
        ],
        key=ttft99,
    )


def _starts(config: Config, names: list[str], by: dict[str, ServerRun]) -> str:
    def cpu(name: str) -> float | None:
        return by[name].start_cpu_ms()

    f = _pick(by, lambda s: s.starts)
    return st.table(
        f"Start CPU: server CPU per stream started ({config.start_streams} one-word streams,"
        f" one every {config.start_interval_s * 1000:g} ms; Spool: send + subscribe)"
        " (ratios: CPU/start)",
        names,
        [
            Column("streams", _int(f(lambda run: len(run.results)))),
            Column("CPU ms/start", lambda name: num(cpu(name), 2)),
            Column("reconn", _int(f(_reconnects))),
            Column("errors", _int(f(_errors))),
        ],
        key=cpu,
    )


def _rung(config: Config, n: int, names: list[str], by: dict[str, ServerRun]) -> str:
    def rung(name: str) -> Rung:
        found = by[name].rung(n)
        assert found is not None
        return found

    def p99(name: str) -> float | None:
        return rung(name).p(99)

    return st.table(
        f"Lateness at N={n} (streams arriving within {config.spread_s:g} s,"
        f" {config.words} words at {1 / config.delay:g}/s), ms (ratios: p99)",
        names,
        [
            Column("p50", lambda s: ms(rung(s).p(50))),
            Column("p99", _ms(p99)),
            Column("max", lambda s: ms(max(rung(s).late, default=None))),
            Column("gap p99", lambda s: ms(st.percentile(rung(s).gaps, 99))),
            Column("frames", lambda s: num(len(rung(s).late), 0)),
            Column("errors", lambda s: num(rung(s).outcome.errors, 0)),
            Column("silent", lambda s: num(rung(s).outcome.silent, 0)),
            Column("reconn", lambda s: num(rung(s).outcome.reconnects, 0)),
            Column("srv CPU%", lambda s: num(_window_cpu_pct(rung(s)), 0)),
            Column("client CPU%", lambda s: num(rung(s).run.client_cpu_pct, 0)),
            Column("client lag", lambda s: ms(rung(s).run.start_lag_s)),
            Column("pass", lambda s: _passed(rung(s), config.limit_s)),
        ],
        key=p99,
    ) + _rung_failures(config, names, rung)


def _passed(rung: Rung, limit_s: float) -> str:
    if rung.failure(limit_s, strict=False):
        return "no"
    return "reconn" if rung.failure(limit_s) else "yes"


def _window_cpu_pct(rung: Rung) -> float:
    start, end = rung.window
    return 100 * rung.window_cpu_s / (end - start)


def _rung_failures(config: Config, names: list[str], rung: Callable[[str], Rung]) -> str:
    lines = [f"  {name}: {why}" for name in names if (why := rung(name).failure(config.limit_s))]
    return "\n" + "\n".join(lines) if lines else ""


def _steady(config: Config, names: list[str], by: dict[str, ServerRun]) -> str:
    """CPU and memory at the reference N, or the largest N below it that every
    server passed (reconnects allowed: they stall a stream before the window):
    a failing rung's window sees late streams, not a steady state."""
    n = steady_n(config, [by[s] for s in names])
    if n is None:
        return ""

    def rung(name: str) -> Rung:
        found = by[name].rung(n)
        assert found is not None
        return found

    def per_kframe(name: str) -> float | None:
        return rung(name).cpu_ms_per_kframe()

    def mb(value: float) -> str:
        return num(value / 2**20, 1)

    return st.table(
        f"Steady state at N={n} (window {config.window()[0]:g}-{config.window()[1]:g} s after"
        " the first arrival): server CPU and memory (ratios: CPU per 1,000 frames)",
        names,
        [
            Column("frames", lambda s: num(rung(s).frames, 0)),
            Column("CPU ms/1k frames", lambda s: num(per_kframe(s), 1)),
            Column("CPU ms/stream-s", lambda s: num(rung(s).cpu_ms_per_stream_s(), 2)),
            Column("RSS idle MB", lambda s: mb(rung(s).idle_rss)),
            Column(f"RSS N={n} MB", lambda s: mb(rung(s).rss_open)),
            Column("KB/stream", lambda s: num(rung(s).rss_kb_per_stream(), 0)),
        ],
        key=per_kframe,
    )


def steady_n(config: Config, runs: Sequence[ServerRun]) -> int | None:
    def passed(run: ServerRun, n: int) -> bool:
        rung = run.rung(n)
        return rung is not None and not rung.failure(config.limit_s, strict=False)

    common = [n for n in config.ladder if all(passed(run, n) for run in runs)]
    below = [n for n in common if n <= config.ref_n]
    return max(below or common, default=None)


def _capacity(config: Config, names: list[str], by: dict[str, ServerRun]) -> str:
    def capacity(name: str) -> float | None:
        return by[name].capacity(config.limit_s)

    def lenient(name: str) -> float | None:
        return by[name].capacity(config.limit_s, strict=False)

    def failures(name: str) -> str:
        """The first failure, and the one that stopped the ladder if it came later."""
        said = []
        for strict in (True, False):
            failed = next(
                (r for r in by[name].rungs if r.failure(config.limit_s, strict=strict)), None
            )
            if failed is not None:
                said.append(f"N={failed.n}: {failed.failure(config.limit_s, strict=strict)}")
        return "; ".join(dict.fromkeys(said)) or "-"

    return st.table(
        f"Capacity: largest N with p99 lateness <= {config.limit_s * 1000:g} ms, no errors and no"
        f" reconnects (ladder {','.join(map(str, config.ladder))}) (ratios: capacity)",
        names,
        [
            Column("capacity", _int(capacity)),
            Column("reconn allowed", _int(lenient)),
            Column("first failure", failures),
        ],
        key=capacity,
    )
