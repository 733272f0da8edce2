"""The error every feed parser raises for one bad row (its message is the reason kept in quarantine)."""


class RowError(ValueError):
    """One row is invalid; the message is the reason stored in quarantine."""
