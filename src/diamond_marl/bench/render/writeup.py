"""The report's section "The write-up's table beside ours" (for suites that ask for it):
their numbers, ours with intervals, and one plain sentence per row (supports / contradicts /
cannot decide). Which of our breakers stand for their columns is data: the suite's
``contrasts:`` (``writeup: true``) and ``data/writeup.yaml``."""

from __future__ import annotations

from diamond_marl.bench.render import fmt
from diamond_marl.bench.render.doc import Doc
from diamond_marl.bench.runs import RATE_METRICS
from diamond_marl.bench.stats import Estimate
from diamond_marl.bench.writeup import Reading, Reference, WriteupEntry

_METHOD = (
    "Ours: IQM [95% CI] over seeds of the final evaluation, on the environment named in the "
    "first column; improvement = IQM(form) - IQM(vanilla) with a bootstrap 95% CI (seeds "
    "resampled independently), in percentage points. The verdict in each sentence comes from "
    "that interval: supports (above 0), contradicts (below 0) or cannot decide (contains 0). "
    "Each sentence then pairs the seeds (seed i of every cell draws all its random keys from "
    "`PRNGKey(i)`): the per-seed differences' sign count, their mean with a 95% bootstrap "
    "interval, and an exact two-sided sign test (with 5 seeds the smallest possible p is "
    "0.0625). The paired numbers are a second reading, not the verdict: the verdict's rule "
    "was fixed before the runs."
)


def section(doc: Doc, entries: list[WriteupEntry], ref: Reference, forms: tuple[str, ...]) -> None:
    """Nothing when no run matches a row of the write-up's table; else one table per
    algorithm of ours, the write-up's own first (``forms``: our breakers for their treated
    column, in the suite's order)."""
    if not entries:
        return
    doc.h(2, "The write-up's table beside ours")
    doc.p(f"Their numbers are from {ref.citation}. {ref.note}")
    doc.method("The write-up's table", _METHOD)
    for algo in dict.fromkeys(e.algo for e in entries):
        _algo_tables(doc, [e for e in entries if e.algo == algo], ref, algo, forms)


def _algo_tables(
    doc: Doc, entries: list[WriteupEntry], ref: Reference, algo: str, forms: tuple[str, ...]
) -> None:
    name, theirs, method = algo.upper(), ref.algo.upper(), ref.method
    doc.h(3, f"With {name}" + (" (the write-up's algorithm)" if algo == ref.algo else ""))
    if algo != ref.algo:
        doc.p(
            f"The write-up's numbers are {theirs}'s; here the same {method} forms sit in "
            f"{name}. A verdict in this table says whether the write-up's direction ({method} "
            f"above vanilla) holds with {name}, not whether its {theirs} numbers do."
        )
    rows = []
    for e in entries:
        ours = [_score_cell(e.ours.get(b), e.metric) for b in (ref.vanilla, *forms)]
        rows.append(
            [f"{e.benchmark} (`{e.env}`)", f"{e.their_vanilla:.1f}%", f"{e.their_diamond:.1f}%"]
            + [*ours, _improvements(e, e.improvement, forms)]
        )
    doc.table(
        [
            "Benchmark", f"their vanilla {theirs}", f"their {method} {theirs}",
            f"our vanilla {name} (`{ref.vanilla}`)",
            *[f"our {method} {name} (`{b}`)" for b in forms], "improvement with CI (pp)",
        ],
        rows,
    )  # fmt: skip
    doc.ul([sentence(e, algo, ref, forms) for e in entries])
    shown = {e.env for e in entries}
    missing = [f"{w.label} (`{w.env}`)" for w in ref.rows if w.env not in shown]
    if missing:
        doc.p(f"Rows of their table with no {algo} run here: {', '.join(missing)}.")
    _sampled_table(doc, entries, name, ref, forms)


def _score_cell(o: Estimate | None, metric: str) -> str:
    if o is None:
        return "not run"
    return f"{fmt.estimate(o, metric in RATE_METRICS)} (n={o.seeds})"


def _in_units(entry: WriteupEntry, est: Estimate) -> tuple[Estimate, str]:
    """A difference in the row's units: percentage points for rates, else the metric's."""
    if entry.metric in RATE_METRICS:
        return est.scaled(100.0), "pp"
    return est, entry.metric


def _improvements(entry: WriteupEntry, improvement: dict[str, Reading], forms: tuple) -> str:
    parts = []
    for b in forms:
        i = improvement.get(b)
        if i is None:
            parts.append(f"{b}: not run")
            continue
        d, unit = _in_units(entry, i.difference.iqm)
        unit = "" if unit == "pp" else f" {unit}"
        text = f"{b}: {d.value:+.1f} [{d.low:+.1f}, {d.high:+.1f}]{unit}"
        parts.append(text + (" (both 0 on every seed)" if i.floor else ""))
    return "; ".join(parts)


def _sampled_table(
    doc: Doc, entries: list[WriteupEntry], name: str, ref: Reference, forms: tuple[str, ...]
) -> None:
    """The same rows under sampled execution, and each form against stochastic execution
    alone (the stochastic breaker); nothing when no run recorded either."""
    shown = [e for e in entries if e.ours_sampled or e.vs_stochastic]
    if not shown:
        return
    vanilla, stochastic, method = ref.vanilla, ref.stochastic, ref.method
    doc.p(
        "The same comparison under **sampled execution** (every agent samples from its policy; "
        f"the same evaluation episodes), and each {method} form (its own execution, as above) "
        f"against **stochastic execution alone**: vanilla {name} trained and evaluated as the "
        f"`{stochastic}` breaker. Where a form beats vanilla only under sampling, or does no "
        f"better than the `{stochastic}` baseline, the randomness that helps is the one at "
        "execution."
    )
    derived = [e.benchmark for e in shown if e.stochastic_source == f"{vanilla} sampled"]
    if derived:
        doc.p(
            f"No `{stochastic}` cell ran for {', '.join(derived)}: there the baseline is the "
            f"`{vanilla}` cell's sampled readout. That is the same policy on the same "
            f"episodes: the `{stochastic}` breaker (temperature 1) trains exactly as "
            f"`{vanilla}` does and only changes the execution the results table reports."
        )
    rows = []
    for e in shown:
        ours = [_score_cell(e.ours_sampled.get(b), e.metric) for b in (vanilla, *forms, stochastic)]
        rows.append(
            [f"{e.benchmark} (`{e.env}`)", *ours, _improvements(e, e.improvement_sampled, forms),
             _improvements(e, e.vs_stochastic, forms)]
        )  # fmt: skip
    doc.table(
        [
            "Benchmark", f"vanilla {name}, sampled", *[f"`{b}`, sampled" for b in forms],
            f"`{stochastic}` baseline", "form - vanilla, both sampled (pp)",
            f"form (own execution) - `{stochastic}` (pp)",
        ],
        rows,
    )  # fmt: skip
    doc.ul(
        [_sampled_sentence(e, ref, forms) for e in shown if e.improvement_sampled]
        + [_stochastic_sentence(e, forms) for e in shown if e.vs_stochastic]
    )


def _sampled_sentence(entry: WriteupEntry, ref: Reference, forms: tuple[str, ...]) -> str:
    """The verdict and the seed-paired reading of form - vanilla, both sampled."""
    parts = [
        _clause(b, entry.improvement_sampled[b], entry, ref)
        for b in forms
        if b in entry.improvement_sampled
    ]
    return f"{entry.benchmark} ({entry.env}), both sampled: " + ", ".join(parts) + "."


def _stochastic_sentence(entry: WriteupEntry, forms: tuple[str, ...]) -> str:
    parts = []
    for breaker in forms:
        imp = entry.vs_stochastic.get(breaker)
        if imp is None:
            continue
        verdict = {
            "supports": "beats",
            "contradicts": "loses to",
            "cannot decide": "cannot be told apart from",
        }[imp.verdict]
        d, unit = _in_units(entry, imp.difference.iqm)
        unit = " pp" if unit == "pp" else f" ({unit})"
        parts.append(
            f"{breaker} {verdict} stochastic execution alone ({d.value:+.1f}{unit}, 95% CI "
            f"[{d.low:+.1f}, {d.high:+.1f}]){_execution_only(entry, breaker, imp)}"
        )
    return f"{entry.benchmark} ({entry.env}): " + ", ".join(parts) + "."


def _execution_only(entry: WriteupEntry, breaker: str, alone: Reading) -> str:
    """Words for a gain over vanilla that randomness at execution explains, if it is one
    (``alone``: the breaker against stochastic execution alone)."""
    own, sampled = entry.improvement.get(breaker), entry.improvement_sampled.get(breaker)
    if own is not None and own.verdict == "supports" and alone.verdict != "supports":
        return (
            ": its gain over vanilla is no more than vanilla gains by sampling its actions, "
            "so the randomness that helps here is the one at execution"
        )
    if (
        sampled is not None
        and sampled.verdict == "supports"
        and (own is None or own.verdict != "supports")
    ):
        return ": it beats vanilla only when both sample their actions"
    return ""


def sentence(entry: WriteupEntry, algo: str, ref: Reference, forms: tuple[str, ...]) -> str:
    """One plain sentence: the verdict for each form and where their gain falls."""
    if ref.vanilla not in entry.ours:
        return f"{entry.benchmark}: not run (no {algo} `{ref.vanilla}` cell on {entry.env})."
    parts = []
    for breaker in forms:
        imp = entry.improvement.get(breaker)
        parts.append(f"{breaker} not run" if imp is None else _clause(breaker, imp, entry, ref))
    return f"{entry.benchmark} ({entry.env}): " + ", ".join(parts) + "."


def _clause(breaker: str, imp: Reading, entry: WriteupEntry, ref: Reference) -> str:
    if imp.floor:
        text = (
            f"{breaker} cannot decide (neither it nor vanilla scored above 0% on any seed "
            "at this budget: the rates test nothing"
        )
        ret = None if imp.return_difference is None else imp.return_difference.iqm
        if ret is not None:
            text += f"; final return {ret.value:+.3f}, 95% CI [{ret.low:+.3f}, {ret.high:+.3f}]"
        return text + ")"
    verdicts = {
        "supports": ("supports the write-up", "lies above 0"),
        "contradicts": ("contradicts the write-up", f"lies below 0: our vanilla beats {breaker}"),
        "cannot decide": ("cannot decide", "contains 0"),
    }
    verdict_text, where = verdicts[imp.verdict]
    d, unit = _in_units(entry, imp.difference.iqm)
    unit = " pp" if unit == "pp" else f" ({unit})"
    text = (
        f"{breaker} {verdict_text} ({d.value:+.1f}{unit}, 95% CI "
        f"[{d.low:+.1f}, {d.high:+.1f}] {where}"
    )
    if imp.their_gain_is is not None:
        text += f"; their claimed {entry.their_gain_pp:+.1f} pp lies {imp.their_gain_is} it"
    diff = imp.difference
    if diff.mean is not None:
        m, _ = _in_units(entry, diff.mean)
        text += (
            f"; paired by seed: higher on {diff.better}, lower on {diff.worse} "
            f"of {len(diff.seeds)} seeds, mean {m.value:+.1f}{unit} "
            f"[{m.low:+.1f}, {m.high:+.1f}], sign test p = {diff.sign_p:.2g}"
        )
    return text + ")"
