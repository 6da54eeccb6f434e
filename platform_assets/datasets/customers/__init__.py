"""The customers dataset: a full snapshot per day, published by overwriting the day."""
