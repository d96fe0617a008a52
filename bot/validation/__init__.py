"""Validation: checks, output parsers, red-green proof, the anti-cheat guard, and the verdict."""
