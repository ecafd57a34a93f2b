"""The report's renderers: the page (``doc``: Markdown and HTML), its sections (``writeup``,
``results``, ``roles``, ``cost``, assembled by ``page``) and the machine-readable exports
(``exports``: report.json and marl-eval). They read the typed report (``bench.collect``,
``bench.writeup``) and draw figures with ``bench.plots``; ``bench.report`` writes the files.
"""
