"""The report's lead: a summary of what the suite's contrasts show, one line per contrast and
algorithm, then section "Contrasts": a table per contrasted breaker and algorithm, a row per
side it is set against and a column per environment (``bench.contrast``)."""

from __future__ import annotations

from diamond_marl.bench.contrast import ContrastCell, ContrastRow
from diamond_marl.bench.dial import split_dial
from diamond_marl.bench.render import fmt
from diamond_marl.bench.render.doc import Doc
from diamond_marl.bench.runs import RATE_METRICS
from diamond_marl.bench.stats import Difference

_METHOD = (
    "Each contrast is one breaker minus another on the same environment and algorithm, "
    "paired by seed: seed i of every cell draws all its random keys from the same "
    "`PRNGKey(i)` (environment resets, exploration, initial weights), so a seed that is hard "
    "for one breaker tends to be hard for the other and the pairing removes that shared "
    "spread. Shown: the mean per-seed difference with a 95% percentile-bootstrap interval "
    "over seeds, and how many seeds score higher / lower. A side is read under its own "
    "execution (the results table's), or under the one its name gives (`none@sampled`: the "
    "`none` policy acting by sampling, stochastic execution alone). report.json also holds "
    "each contrast's IQM difference (seeds resampled independently), the probability that a "
    "seed of the first beats a seed of the second, the per-seed differences and an exact "
    "two-sided sign test. Differences of rates are in percentage points. The suite file's "
    "`contrasts:` say which breakers are set against which."
)


def env_labels(doc: Doc, envs: list[str]) -> dict[str, str]:
    """Short column names: ``tie=0.5`` when every environment is one dial's setting of the
    same base environment, else the page's labels."""
    split = [split_dial(e) for e in envs]
    if len(envs) > 1 and all(split) and len({(s[0], s[1]) for s in split if s}) == 1:
        return {e: f"{s[1]}={s[2]:g}" for e, s in zip(envs, split, strict=True) if s}
    return {e: doc.env(e) for e in envs}


def _reading(d: Difference, rate: bool) -> str:
    """``+12.0 pp [+8.0, +15.0], higher on 5 of 5 seeds``."""
    m = d.mean
    n = len(d.seeds)
    if m is None:
        return f"IQM difference {fmt.score(d.iqm.value, rate, signed=True)} (no paired seeds)"
    unit = " pp" if rate else ""
    text = (
        f"{fmt.score(m.value, rate, signed=True)}{unit} [{fmt.score(m.low, rate, signed=True)}, "
        f"{fmt.score(m.high, rate, signed=True)}]"
    )
    if d.better == d.worse == 0:
        return f"{text}, equal on every seed"
    if m.low > 0:
        return f"{text}, higher on {d.better} of {n} seeds"
    if m.high < 0:
        return f"{text}, lower on {d.worse} of {n} seeds"
    return f"{text}, no clear difference ({d.better} higher, {d.worse} lower of {n} seeds)"


def _by_algo(row: ContrastRow) -> dict[str, list[ContrastCell]]:
    out: dict[str, list[ContrastCell]] = {}
    for cell in row.cells:
        out.setdefault(cell.algo, []).append(cell)
    return out


def summary(doc: Doc, rows: list[ContrastRow]) -> None:
    """One bullet per contrast and algorithm: the headline difference on each environment."""
    shown = [r for r in rows if r.cells]
    if not shown:
        return
    doc.h(2, "Summary")
    doc.p(
        "What the suite's contrasts show, in the headline metric, paired by seed (mean "
        "difference [95% CI]); the tables follow."
    )
    items = []
    for row in shown:
        for algo, cells in _by_algo(row).items():
            labels = env_labels(doc, [c.env for c in cells])
            parts = [
                f"`{labels[c.env]}` {c.metric} {_reading(c.headline, c.metric in RATE_METRICS)}"
                for c in cells
            ]
            sides = f"{row.execution} vs {row.against_execution} execution"
            items.append(
                f"**{row.breaker} vs {row.against}** ({algo}, {sides}): " + "; ".join(parts)
            )
    doc.ul(items)


def section(doc: Doc, rows: list[ContrastRow]) -> None:
    """A table per contrasted breaker and algorithm, in the headline metric and the return."""
    if not any(r.cells for r in rows):
        return
    doc.h(2, "Contrasts")
    doc.p(
        "Each breaker minus each side the suite sets it against, paired by seed: mean [95% CI] "
        "(seeds higher/lower); a positive interval means the first breaker does better."
    )
    doc.method("Contrasts", _METHOD)
    for breaker in dict.fromkeys(r.breaker for r in rows):
        mine = [r for r in rows if r.breaker == breaker]
        algos = dict.fromkeys(c.algo for r in mine for c in r.cells)
        for algo in algos:
            doc.h(3, f"{breaker} · {algo}")
            for returns in (False, True):
                _table(doc, breaker, algo, mine, returns)


def _table(doc: Doc, breaker: str, algo: str, rows: list[ContrastRow], returns: bool) -> None:
    cells = {(r.against, c.env): c for r in rows for c in r.cells if c.algo == algo}
    envs = list(dict.fromkeys(env for _, env in cells))
    labels = env_labels(doc, envs)
    metrics = {c.env: c.metric for c in cells.values()}
    table = []
    for r in rows:
        if not r.cells:
            continue
        line = [f"`{r.against}`"]
        for env in envs:
            c = cells.get((r.against, env))
            d = None if c is None else (c.returns if returns else c.headline)
            line.append(fmt.difference(d, not returns and metrics[env] in RATE_METRICS))
        table.append(line)
    if not any(v != "-" for line in table for v in line[1:]):
        return
    if returns:
        header = [f"return: `{breaker}` minus"] + [f"`{labels[e]}`" for e in envs]
    else:
        header = [f"headline: `{breaker}` minus"]
        pp = {e: " (pp)" if metrics[e] in RATE_METRICS else "" for e in envs}
        header += [f"`{labels[e]}` {metrics[e]}{pp[e]}" for e in envs]
    doc.table(header, table)
