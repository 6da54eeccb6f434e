"""The Dagster face: asset factories, IO managers and resources (thin adapters over the
core and storage), sensors, schedules and the launch planner.
"""
