"""Both forms of Diamond Attention at once: logit noise and the rank mask (an ablation).

Each hook comes from the form that defines it (``logit_noise`` from the noise form,
``restrict`` from the rank form); only what both define is combined here.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from diamond_marl.networks.breakers.logit_noise import NoiseConfig
from diamond_marl.networks.breakers.rank_mask import RankConfig


@dataclasses.dataclass(frozen=True)
class NoiseRankConfig(NoiseConfig, RankConfig):
    """Both forms at once: noisy logits and the rank mask (fields of both)."""

    name: ClassVar[str] = "noise+rank"

    def needs_key(self, mode: str) -> bool:
        return mode == "train" or self.eval_noise or self.eval_rank
