"""Plotly figures of job pages, as plain ``{"data": [...], "layout": {...}}`` dicts.

The pages embed them as JSON and draw them with Plotly.js (served locally), as the dataset
profile page does (``datasets/charts.py``).
"""
