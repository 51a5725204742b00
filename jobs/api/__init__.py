"""The job API (DRF views), a module per job kind, with the generic views of one kind in ``common``."""
