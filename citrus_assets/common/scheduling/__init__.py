"""Automation: declarative conditions, backfill helpers, inbox sensors, the staleness check."""
