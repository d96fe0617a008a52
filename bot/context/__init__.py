"""The context engine: the few files and symbols a model call needs, within a byte budget."""
