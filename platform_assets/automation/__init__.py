"""Sensors and schedules that launch the pipelines; safe to fire twice."""
