"""Presentation without a UI toolkit: tables, sentences and Altair charts for the CLI and the dashboard."""
