"""Disclosure bundles: a deterministic, offline-verifiable ZIP for prosecution.

- ``layout``: what a bundle holds and how its parts refer to each other (the
  contract between ``build`` and ``verify``: payload names, Bates numbers,
  bag-info fields, the root digest, the schedule and load file);
- ``bag``: writing the BagIt container as a deterministic streaming ZIP;
  ``bagcheck``: reading it and verifying it offline;
- ``pdf``: ``bundle.pdf`` (cover, schedule, continuity, stamped exhibits,
  outline, page labels);
- ``provenance``: the chain of custody in CASE/UCO JSON-LD;
- ``build``: assembles a bundle from chosen exhibits, the ledger and the store;
- ``verify``: checks a bundle with nothing but the ZIP (and without fpdf2);
- ``quiet``: keeps pypdf's and fpdf2's warnings out of the log.

Who may disclose what is decided in ``evidence.disclosure``.
"""
