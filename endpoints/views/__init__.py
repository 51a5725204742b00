"""Inference pages: models, the deploy form, endpoints with their live status, metrics and test console."""
