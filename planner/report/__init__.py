"""Rendering of results: rich tables for people, JSON and CSV for machines, plots. No solving here."""
