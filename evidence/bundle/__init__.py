"""Disclosure bundles: a deterministic, offline-verifiable ZIP for prosecution.

- ``layout``: what a bundle holds and how its parts refer to each other;
- ``bag``: the BagIt container as a deterministic streaming ZIP, and its
  offline verification;
- ``pdf``: ``bundle.pdf`` (cover, schedule, continuity, stamped exhibits,
  outline, page labels);
- ``provenance``: the chain of custody in CASE/UCO JSON-LD;
- ``build``: assembles a bundle from chosen exhibits, the ledger and the store;
- ``verify``: checks a bundle with nothing but the ZIP.

Who may disclose what is decided in ``evidence.disclosure``.
"""
