"""The report's section "Cost": each breaker's network time over ``none``'s, and per agent,
from a saved output of ``benchmarks/attention_overhead.py``."""

from __future__ import annotations

from diamond_marl.bench.render.doc import Doc
from diamond_marl.bench.rows import CostSummary
from diamond_marl.breaker_names import breaker_order


def section(doc: Doc, cost: CostSummary | None) -> None:
    if not cost:
        return
    doc.h(2, "Cost")
    doc.p(f"Each breaker's network time over `none`'s (read from `{cost.source}`).")
    doc.method(
        "Cost",
        "Forward+backward (and forward alone) time of the agent network with each breaker "
        "over the same with `none`, from `benchmarks/attention_overhead.py` (medians of "
        f"back-to-back pairs; read from `{cost.source}`). Per agent: the forward+backward "
        "time of one batch divided by batch x N agents. A micro-benchmark of the network "
        "alone, on the machine that ran it; training time also holds the environment.",
    )
    if cost.comments:
        doc.ul(list(cost.comments))
    envs = list(dict.fromkeys(r.env for r in cost.rows))
    by = {(r.breaker, r.env): r for r in cost.rows}
    breakers = sorted(dict.fromkeys(r.breaker for r in cost.rows), key=breaker_order)
    header = ["breaker"]
    for env in envs:
        n = cost.agents.get(env)
        header += [f"`{env}` fwd+bwd ratio", "fwd ratio", f"µs per agent (N={n or '?'})"]
    table = []
    for b in breakers:
        line = [f"`{b}`"]
        for env in envs:
            r = by.get((b, env))
            if r is None:
                line += ["-", "-", "-"]
                continue
            fwd = "-" if r.fwd is None else f"{r.fwd:.3f}"
            us = r.fwd_bwd_us_per_agent
            line += [f"{r.fwd_bwd:.3f}", fwd, "-" if us is None else f"{us:.1f}"]
        table.append(line)
    doc.table(header, table)
