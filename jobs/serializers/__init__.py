"""Job API shapes (DRF serializers), a module per job kind, with what they share in ``common``."""
