"""Tests of the write layer: write strategies, schema drift, the lake, crashes and concurrency."""
