"""Disclosure bundles: a deterministic, offline-verifiable ZIP for prosecution
(issue 4, in progress). The building blocks so far, each tested on its own:

- ``bag``: the BagIt container, written as a deterministic streaming ZIP, and
  its offline verification;
- ``pdf``: ``bundle.pdf`` (cover, schedule, continuity, stamped exhibits,
  outline, page labels);
- ``provenance``: the chain of custody in CASE/UCO JSON-LD.

Still to come: the disclosure service that plans a bundle (who may disclose
what, H1 consent, the sensitive schedule), builds it from the store and the
ledger, stores it write-once and records DISCLOSED events; the offline
``jitev bundle verify``; the CLI, the demo and ``bench/bundle.py``.
"""
