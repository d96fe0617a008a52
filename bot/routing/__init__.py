"""Routing: tiers, transport fallback, the escalation policies and their presets."""
