"""The report's section "Role analysis": specialisation metrics, adversarial drops and one
role timeline per analysed run (``diamond-marl analyze``, docs/analysis.md)."""

from __future__ import annotations

from pathlib import Path

from diamond_marl.analysis.summary import METRIC_KEYS
from diamond_marl.bench.render import fmt
from diamond_marl.bench.render.doc import Doc
from diamond_marl.bench.rows import AnalysisResult, AnalysisRow
from diamond_marl.bench.runs import RATE_METRICS

_TEXT = (
    "Execution-mode episodes re-played from each run's latest checkpoint (`diamond-marl "
    "analyze`, docs/analysis.md); means over seeds. SND and JS: how differently the agents "
    "act at the same state (0 = all alike); role entropy: how evenly the team spreads over "
    "roles (actions) at a step (1 = as many distinct roles as possible, 0 = one shared role), "
    "per episode: the same over the agents' lasting roles; persistence: the share of steps at "
    "which an agent keeps its role (n/a in one-step games). Adversarial: agent 0 misbehaves, "
    "the others stay honest, on the same episodes; the drop is honest - attacked in the "
    "headline metric (positive: the attack hurts; percentage points for rates)."
)


def section(doc: Doc, rows: list[AnalysisRow], out: Path) -> None:
    """Per env x algo: the metrics table, the attacks table and the timelines (``out``: the
    report folder the timelines' relative paths start from)."""
    if not rows:
        return
    doc.h(2, "Role analysis")
    doc.p("How the agents split into roles, and what one misbehaving agent costs the team.")
    doc.method("Role analysis", _TEXT)
    by_pair: dict[tuple[str, str], list[AnalysisRow]] = {}
    for r in rows:
        by_pair.setdefault((r.env, r.algo), []).append(r)
    for (env, algo), pair in by_pair.items():
        doc.h(3, f"{doc.env(env)} · {algo}")
        breakers = [r.breaker for r in pair]
        names = {
            r.dir: f"`{r.breaker}`" + (f" ({r.dir})" if breakers.count(r.breaker) > 1 else "")
            for r in pair
        }
        ok = [(r, r.result) for r in pair if r.result is not None]
        if ok:
            _tables(doc, ok, names)
        doc.ul([f"`{r.dir}`: analysis failed: {r.error}" for r in pair if r.error is not None])
        for r, a in ok:
            if a.timeline:
                title = (
                    f"{doc.env(env)} · {algo} · {r.breaker}: role timeline (seed index 0, "
                    f"episode key 0; replay with `diamond-marl replay {r.dir} --episode-key 0`)"
                )
                doc.img(out / a.timeline, title)


def _tables(doc: Doc, ok: list[tuple[AnalysisRow, AnalysisResult]], names: dict[str, str]) -> None:
    success = ok[0][1].success_metric
    metric = success or "return"
    rate = metric in RATE_METRICS
    table = []
    for r, a in ok:
        eps = "-" if a.episodes is None else f"{a.episodes} x {a.seeds or '?'}"
        table.append(
            [names[r.dir], eps]
            + [fmt.metric(a.metrics[k]) for k in METRIC_KEYS[:5]]
            + [fmt.score(a.metrics["return"], False)]
            + ([fmt.score(a.metrics["won"], rate)] if success else [])
        )
    header = ["breaker", "episodes x seeds", "SND", "JS", "role entropy"]
    header += ["role entropy (episode)", "persistence", "return"]
    doc.table(header + ([metric] if success else []), table)
    attacks = list(dict.fromkeys(x["attack"] for _, a in ok for x in a.adversarial))
    if not attacks:
        return
    reasons: dict[str, None] = {}
    table = []
    for r, a in ok:
        by_attack = {x["attack"]: x for x in a.adversarial}
        honest = next(
            (x["honest"] for x in a.adversarial if x["applies"]),
            a.metrics["won"] if success else a.metrics["return"],  # the same episodes
        )
        line = [names[r.dir], fmt.score(honest, rate)]
        for name in attacks:
            x = by_attack.get(name)
            if x is None:
                line.append("not run")
            elif not x["applies"]:
                line.append("n/a")
                reasons[f"`{name}` on `{r.breaker}`: n/a, {x['reason']}"] = None
            else:
                drop = fmt.score(x["drop"], rate, signed=True)
                line.append(f"{drop} (-> {fmt.score(x['attacked'], rate)})")
        table.append(line)
    unit = " (pp)" if rate else ""
    doc.p(
        f"Adversarial evaluation: drop in {metric}{unit} when agent 0 misbehaves "
        "(the attacked team's score in brackets)."
    )
    doc.table(["breaker", f"honest {metric}"] + [f"`{x}`: drop" for x in attacks], table)
    doc.ul(list(reasons))
