"""Model Monitor pages: the project's monitoring home, schedules with their drift figures, baselines,
ad-hoc drift reports and alerts."""
