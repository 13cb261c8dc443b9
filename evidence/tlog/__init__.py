"""The custody ledger as a transparency log (RFC 6962, C2SP tlog formats).

Each case's events are the leaves of a Merkle tree (``merkle``). The
deployment's log key signs checkpoints of it (``notes``: signed notes,
checkpoints, cosignatures), every member team's witness cosigns them after
checking they extend what it saw before (``witness``), a policy says whose
cosignatures make a checkpoint valid (``policy``), ``publish`` asks for them,
and ``check`` verifies the stored events against the checkpoints and the
witnesses' memory. ``proofs`` writes and reads the offline proofs a
disclosure bundle carries. History can then only be rewritten if every
member team's witness colludes.
"""
