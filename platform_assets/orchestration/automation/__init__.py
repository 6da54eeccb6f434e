"""Sensors and schedules: landing deliveries, late changes, the daily schedule."""
