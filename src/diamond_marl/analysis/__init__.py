"""Analysis of trained runs: specialisation metrics, reproducible replays, pictures,
adversarial and transfer evaluation (docs/analysis.md).

Start at ``rollout.Recorder`` (``Recorder(algos.saved_run.load_run(RUN_DIR)).record(...)``:
episodes with per-step actions, distributions and breaker draws), ``metrics`` (SND,
Jensen-Shannon, role entropy and persistence), ``adversarial.evaluate_attacks`` and
``transfer.evaluate_transfer``; ``cli`` adds the ``analyze`` and ``replay`` commands.
"""
