"""The report's section "The write-up's table beside ours": their numbers, ours with
intervals, and one plain sentence per row (supports / contradicts / cannot decide)."""

from __future__ import annotations

from diamond_marl.bench.render import fmt
from diamond_marl.bench.render.doc import Doc
from diamond_marl.bench.rows import Score
from diamond_marl.bench.runs import RATE_METRICS
from diamond_marl.bench.writeup import (
    DIAMOND,
    STOCHASTIC,
    VANILLA,
    Improvement,
    Reference,
    WriteupEntry,
)

_VERDICTS = {
    "supports": ("supports the write-up", "lies above 0"),
    "contradicts": ("contradicts the write-up", "lies below 0: our vanilla beats Diamond"),
    "cannot decide": ("cannot decide", "contains 0"),
}


def section(doc: Doc, entries: list[WriteupEntry], ref: Reference) -> None:
    """Nothing when no run matches a row of the write-up's table; else one table per
    algorithm of ours, the write-up's own first."""
    if not entries:
        return
    doc.h(2, "The write-up's table beside ours")
    doc.p(
        f"Their numbers are from {ref.citation}: StarCraft II and rware win rates of "
        f"{ref.algo.upper()}. Ours are measured on the SC2-free SMAX and on our RobotWarehouse "
        "with its own success rate, so they compare in direction, not digit. Ours: IQM [95% CI] "
        "over seeds of the final evaluation, on the environment named in the first column; "
        "improvement = IQM(Diamond) - IQM(vanilla) with a bootstrap 95% CI, in percentage "
        "points. The verdict in each sentence below comes from that interval. Each sentence "
        "then pairs the seeds: seed i of every cell draws all its random keys from the same "
        "`PRNGKey(i)` (environment resets, exploration, initial weights), so a seed that is "
        "hard for vanilla tends to be hard for Diamond too; it gives the per-seed differences' "
        "sign count, their mean with a 95% bootstrap interval, and an exact two-sided sign "
        "test (with 5 seeds the smallest possible p is 0.0625). The paired numbers are a "
        "second reading, not the verdict: the verdict's rule was fixed before the runs."
    )
    for algo in dict.fromkeys(e.algo for e in entries):
        _algo_tables(doc, [e for e in entries if e.algo == algo], ref, algo)


def _algo_tables(doc: Doc, entries: list[WriteupEntry], ref: Reference, algo: str) -> None:
    name, theirs = algo.upper(), ref.algo.upper()
    doc.h(3, f"With {name}" + (" (the write-up's algorithm)" if algo == ref.algo else ""))
    if algo != ref.algo:
        doc.p(
            f"The write-up's numbers are {theirs}'s; here the same Diamond forms sit in "
            f"{name}. A verdict in this table says whether the write-up's direction (Diamond "
            f"above vanilla) holds with {name}, not whether its {theirs} numbers do."
        )
    rows = []
    for e in entries:
        ours = [_score_cell(e.ours.get(b)) for b in (VANILLA, *DIAMOND)]
        rows.append(
            [f"{e.benchmark} (`{e.env}`)", f"{e.their_vanilla:.1f}%", f"{e.their_diamond:.1f}%"]
            + [*ours, _improvements(e.improvement)]
        )
    doc.table(
        [
            "Benchmark", f"their vanilla {theirs}", f"their Diamond {theirs}",
            f"our vanilla {name}", f"our Diamond {name} (noise)", f"our Diamond {name} (rank)",
            "improvement with CI (pp)",
        ],
        rows,
    )  # fmt: skip
    doc.ul([sentence(e, algo) for e in entries])
    shown = {e.env for e in entries}
    missing = [f"{w.label} (`{w.env}`)" for w in ref.rows if w.env not in shown]
    if missing:
        doc.p(f"Rows of their table with no {algo} run here: {', '.join(missing)}.")
    _sampled_table(doc, entries, name)


def _score_cell(o: Score | None) -> str:
    if o is None:
        return "not run"
    rate = o.metric in RATE_METRICS
    return f"{fmt.interval(o.iqm, o.ci_low, o.ci_high, rate)} (n={o.seeds})"


def _improvements(improvement: dict[str, Improvement]) -> str:
    parts = []
    for b in DIAMOND:
        i = improvement.get(b)
        if i is None:
            parts.append(f"{b}: not run")
            continue
        unit = "" if i.unit == "pp" else f" {i.unit}"
        text = f"{b}: {i.diff:+.1f} [{i.ci_low:+.1f}, {i.ci_high:+.1f}]{unit}"
        parts.append(text + (" (both 0 on every seed)" if i.floor else ""))
    return "; ".join(parts)


def _sampled_table(doc: Doc, entries: list[WriteupEntry], name: str) -> None:
    """The same rows under sampled execution, and Diamond against stochastic execution alone
    (the `sampled` breaker); nothing when no run recorded either."""
    shown = [e for e in entries if e.ours_sampled or e.vs_stochastic]
    if not shown:
        return
    doc.p(
        "The same comparison under **sampled execution** (every agent samples from its policy; "
        "the same evaluation episodes), and each Diamond form (its own execution, as above) "
        f"against **stochastic execution alone**: vanilla {name} trained and evaluated as the "
        f"`{STOCHASTIC}` breaker. Where Diamond beats vanilla only under sampling, or does no "
        "better than the `sampled` baseline, the randomness that helps is the one at execution."
    )
    derived = [e.benchmark for e in shown if e.stochastic_source == "none sampled"]
    if derived:
        doc.p(
            f"No `{STOCHASTIC}` cell ran for {', '.join(derived)}: there the baseline is the "
            f"`{VANILLA}` cell's sampled readout. That is the same policy on the same "
            f"episodes: the `{STOCHASTIC}` breaker (temperature 1) trains exactly as "
            f"`{VANILLA}` does and only changes the execution the results table reports."
        )
    rows = []
    for e in shown:
        ours = [_score_cell(e.ours_sampled.get(b)) for b in (VANILLA, *DIAMOND, STOCHASTIC)]
        rows.append(
            [f"{e.benchmark} (`{e.env}`)", *ours, _improvements(e.improvement_sampled),
             _improvements(e.vs_stochastic)]
        )  # fmt: skip
    doc.table(
        [
            "Benchmark", f"vanilla {name}, sampled", "noise, sampled", "rank, sampled",
            f"`{STOCHASTIC}` baseline", "Diamond - vanilla, both sampled (pp)",
            f"Diamond (own execution) - `{STOCHASTIC}` (pp)",
        ],
        rows,
    )  # fmt: skip
    doc.ul(
        [_sampled_sentence(e) for e in shown if e.improvement_sampled]
        + [_stochastic_sentence(e) for e in shown if e.vs_stochastic]
    )


def _sampled_sentence(entry: WriteupEntry) -> str:
    """The verdict and the seed-paired reading of Diamond - vanilla, both sampled."""
    parts = [
        _clause(b, entry.improvement_sampled[b], entry)
        for b in reversed(DIAMOND)
        if b in entry.improvement_sampled
    ]
    return f"{entry.benchmark} ({entry.env}), both sampled: " + ", ".join(parts) + "."


def _stochastic_sentence(entry: WriteupEntry) -> str:
    parts = []
    for breaker in reversed(DIAMOND):
        imp = entry.vs_stochastic.get(breaker)
        if imp is None:
            continue
        verdict = {
            "supports": "beats",
            "contradicts": "loses to",
            "cannot decide": "cannot be told apart from",
        }[imp.verdict]
        unit = " pp" if imp.unit == "pp" else f" ({imp.unit})"
        parts.append(
            f"{breaker} {verdict} stochastic execution alone ({imp.diff:+.1f}{unit}, 95% CI "
            f"[{imp.ci_low:+.1f}, {imp.ci_high:+.1f}]){_execution_only(entry, breaker, imp)}"
        )
    return f"{entry.benchmark} ({entry.env}): " + ", ".join(parts) + "."


def _execution_only(entry: WriteupEntry, breaker: str, alone: Improvement) -> str:
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


def sentence(entry: WriteupEntry, algo: str) -> str:
    """One plain sentence: the verdict for rank and for noise, and where their gain falls."""
    if VANILLA not in entry.ours:
        return f"{entry.benchmark}: not run (no {algo} `{VANILLA}` cell on {entry.env})."
    parts = []
    for breaker in reversed(DIAMOND):  # rank first: the paper's form
        imp = entry.improvement.get(breaker)
        parts.append(f"{breaker} not run" if imp is None else _clause(breaker, imp, entry))
    return f"{entry.benchmark} ({entry.env}): " + ", ".join(parts) + "."


def _clause(breaker: str, imp: Improvement, entry: WriteupEntry) -> str:
    if imp.floor:
        text = (
            f"{breaker} cannot decide (neither it nor vanilla scored above 0% on any seed "
            "at this budget: the rates test nothing"
        )
        ret = imp.return_diff
        if ret is not None:
            text += (
                f"; final return {ret.diff:+.3f}, 95% CI [{ret.ci_low:+.3f}, {ret.ci_high:+.3f}]"
            )
        return text + ")"
    verdict_text, where = _VERDICTS[imp.verdict]
    unit = " pp" if imp.unit == "pp" else f" ({imp.unit})"
    text = (
        f"{breaker} {verdict_text} ({imp.diff:+.1f}{unit}, 95% CI "
        f"[{imp.ci_low:+.1f}, {imp.ci_high:+.1f}] {where}"
    )
    if imp.their_gain_is is not None:
        text += f"; their claimed {entry.their_gain_pp:+.1f} pp lies {imp.their_gain_is} it"
    paired = imp.paired
    if paired is not None:
        text += (
            f"; paired by seed: higher on {paired.better}, lower on {paired.worse} "
            f"of {len(paired.seeds)} seeds, mean {paired.mean:+.1f}{unit} "
            f"[{paired.ci_low:+.1f}, {paired.ci_high:+.1f}], sign test p = {paired.sign_p:.2g}"
        )
    return text + ")"
