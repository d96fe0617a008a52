"""In-tree fakes that speak the real wire protocols, for tests and the demo (DESIGN.md section 7)."""
